"""Refit the default Cd3P2 Moreels sizing curve shipped in ``resources/materials.toml``.

Anchors: the reference paper's 1010-nm batch, whose MALDI molecular-ion bands give 2.8 nm before and
4.2 nm after overgrowth, with PL at 1010 and 1277 nm. Diameter uncertainty 0.15 nm (rounding, density
choice, TEM 2.7/4.4 vs MALDI 2.8/4.2). Prints the TOML values to paste (see docs/science.md).
"""

import warnings

from qdlab.materials import fit_sizing_curve

warnings.simplefilter("ignore")
fit = fit_sizing_curve([2.8, 4.2], emission_nm=[1010.0, 1277.0], kind="moreels", sigma_diameter_nm=0.15)
print(fit.report())
p, s = fit.params, fit.std
print(f"a_per_ev_nm2 = {p['a_per_ev_nm2']:.6f}\nb_per_ev_nm = {p['b_per_ev_nm']:.6f}")
print(f"covariance = {[[round(v, 8) for v in row] for row in fit.covariance]}")
