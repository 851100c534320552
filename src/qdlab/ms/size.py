"""Molecular-ion band -> QD size distribution (paper Fig. 5b: 38-40 kDa -> 140 kDa after overgrowth).

Steps: take the spectrum above ``min_mass_da``; resample it on a uniform grid in ln(m/z) (a MALDI
band of a size distribution is broad and skewed, its width scales with the mass); smooth with a
Gaussian of ``smooth_fwhm_fraction`` relative FWHM; remove a SNIP baseline whose window spans the widest
expected band; find the modes with the signal core (:func:`qdlab.signal.find_peaks`, a prominence of
``min_prominence_fraction`` of the band maximum; each mode owns the stretch between the valleys to its
neighbours); measure each mode's FWHM at half its prominence inside that stretch (scipy's definition,
:func:`qdlab.signal.widths`, flagged when cut at a valley), refine its apex by a parabola
(:func:`qdlab.signal.parabolic_apex`), split the band at the valleys for area fractions; convert each
mode mass to a diameter with :func:`qdlab.materials.mass_da_to_diameter_nm`.

The conversion's assumptions are part of the result: by default a bare core (ligands are stripped in
MALDI) of the handbook density, which reproduces the paper's 40 kDa -> 2.8 nm and 140 kDa -> 4.2 nm. A
mode at half the mass of a stronger mode is flagged as a possible doubly charged ion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import MassSpectrum, Result
from qdlab.ms.config import default
from qdlab.signal import find_peaks, parabolic_apex, valleys, widths


@dataclass(frozen=True, eq=False)
class SizeMode(Result):
    """One mode of the molecular-ion band.

    Attributes
    ----------
    mass_da
        Mode (apex) mass of the smoothed band.
    diameter_nm
        Diameter of a sphere of that mass under the stated assumptions.
    fwhm_da
        Full width at half maximum of the mode (Da).
    diameter_range_nm
        Diameters at the half-maximum edges.
    area_fraction
        Fraction of the band's area (baseline-corrected intensity x dm) assigned to this mode.
    height
        Apex height of the smoothed, baseline-corrected band.
    note
        E.g. ``"possible 2+ ion of the 140000 Da mode"``.
    fwhm_truncated
        True when the band does not fall to the half-prominence level before the valley to a neighbouring
        mode: ``fwhm_da`` and ``diameter_range_nm`` are then lower bounds.
    """

    mass_da: float
    diameter_nm: float
    fwhm_da: float
    diameter_range_nm: tuple[float, float]
    area_fraction: float
    height: float
    note: str = ""
    fwhm_truncated: bool = False


@dataclass(frozen=True, eq=False)
class SizeResult(Result):
    """Modes of the molecular-ion band with their diameters and the assumptions used."""

    modes: tuple[SizeMode, ...]
    assumptions: dict[str, Any]
    mass_da: NDArray[np.float64] = field(repr=False)
    band: NDArray[np.float64] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"modes": [m.to_dict() for m in self.modes], "assumptions": self.assumptions, "settings": self.settings}


def _gaussian_smooth(y: NDArray[np.float64], sigma_pts: float) -> NDArray[np.float64]:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(y, sigma_pts, mode="nearest") if sigma_pts > 0 else y


def molecular_ion_size(
    spectrum: MassSpectrum,
    *,
    material: str = "Cd3P2",
    density: str | float | None = None,
    ligands_per_nm2: float | None = None,
    ligand: str = "OA",
    min_mass_da: float | None = None,
    max_mass_da: float | None = None,
    smooth_fwhm_fraction: float | None = None,
    min_prominence_fraction: float | None = None,
    baseline: bool = True,
    n_grid: int = 3000,
) -> SizeResult:
    """Find the modes of the molecular-ion band and convert them to QD diameters.

    Parameters
    ----------
    spectrum
        Linear-mode spectrum covering the band.
    material, density, ligands_per_nm2, ligand
        Passed to :func:`qdlab.materials.mass_da_to_diameter_nm`; defaults = the paper's assumption (bare
        core, handbook density).
    min_mass_da, max_mass_da
        Mass window of the band (default: 10 kDa to the end of the spectrum).
    smooth_fwhm_fraction
        Relative FWHM of the Gaussian smoothing in ln(mass) (default 0.05).
    min_prominence_fraction
        Minimum prominence of a mode relative to the highest point of the band (default 0.1).
    baseline
        Remove a SNIP baseline (window: half the ln-mass span) before finding modes.

    Examples
    --------
    >>> from qdlab.ms.synth import molecular_ion_band
    >>> res = molecular_ion_size(molecular_ion_band().spectrum)
    >>> [round(m.diameter_nm, 1) for m in res.modes]
    [2.8, 4.2]
    """
    from qdlab.materials import get_material, mass_da_to_diameter_nm

    dens = default("size", "density") if density is None else density
    lig = float(default("size", "ligands_per_nm2") if ligands_per_nm2 is None else ligands_per_nm2)
    lo = float(default("size", "min_mass_da") if min_mass_da is None else min_mass_da)
    frac = float(default("size", "smooth_fwhm_fraction") if smooth_fwhm_fraction is None else smooth_fwhm_fraction)
    prom = float(default("size", "min_prominence_fraction") if min_prominence_fraction is None else min_prominence_fraction)
    mz = spectrum.mz
    hi = float(mz[-1]) if max_mass_da is None else float(max_mass_da)
    sel = (mz >= lo) & (mz <= hi)
    if np.count_nonzero(sel) < 20:
        raise InputError(f"the spectrum has fewer than 20 points between {lo:g} and {hi:g} Da; is this the high-mass "
                         "(linear) region with the molecular-ion band?", field="min_mass_da")
    x, y = mz[sel], spectrum.intensity[sel]
    grid = np.linspace(np.log(x[0]), np.log(x[-1]), n_grid)
    d_ln = grid[1] - grid[0]
    yg = np.interp(grid, np.log(x), y)
    ys = _gaussian_smooth(yg, frac / 2.3548200450309493 / d_ln)
    if baseline:
        from qdlab.ms.preprocess import estimate_baseline

        half = max(int(0.5 * (grid[-1] - grid[0]) / d_ln / 2), 1)
        ys = ys - estimate_baseline(ys, "snip", snip_iterations=half, snip_decreasing=True)
    top = float(ys.max())
    if not top > 0:
        raise InputError("no band above the baseline in the molecular-ion region", field="min_mass_da")
    pk = find_peaks(grid, ys, noise=0.0, prominence=prom * top)
    if len(pk) == 0:
        raise InputError("no mode found in the molecular-ion band", field="min_mass_da")
    # widths at half prominence (scipy's definition), each inside the mode's own region
    wid = widths(grid, ys, pk, rel_height=0.5, reference="prominence")
    m_grid = np.exp(grid)
    apex = np.exp(np.asarray([parabolic_apex(grid, ys, int(p))[0] for p in pk.index]))
    # area split at the lowest point between neighbouring modes; area in mass: y dm = y m dln m
    bounds = [0, *valleys(ys, pk.index).tolist(), ys.size - 1]
    dens_area = np.clip(ys, 0, None) * m_grid
    areas = np.array([np.trapezoid(dens_area[bounds[i]: bounds[i + 1] + 1], grid[bounds[i]: bounds[i + 1] + 1])
                      for i in range(len(pk))])
    total = areas.sum() if areas.sum() > 0 else 1.0
    mat = get_material(material)
    kw = {"density": dens, "ligands_per_nm2": lig, "ligand": ligand}
    modes = []
    left, right = np.exp(wid.left_x), np.exp(wid.right_x)
    heights = pk.height
    for i in range(len(pk)):
        notes = []
        for j in range(len(pk)):
            if j != i and heights[j] > heights[i] and abs(apex[j] / 2 - apex[i]) < 0.05 * apex[i]:
                notes = [f"possible 2+ ion of the {apex[j]:.0f} Da mode"]
        if wid.truncated[i]:
            notes.append("FWHM cut at the valley to a neighbouring mode (a lower bound)")
        d = float(mass_da_to_diameter_nm(apex[i], mat, **kw))
        dr = (float(mass_da_to_diameter_nm(left[i], mat, **kw)), float(mass_da_to_diameter_nm(right[i], mat, **kw)))
        modes.append(SizeMode(float(apex[i]), d, float(right[i] - left[i]), dr, float(areas[i] / total), float(heights[i]),
                              "; ".join(notes), bool(wid.truncated[i])))
    rho = mat.density_g_per_cm3(dens)
    statement = (f"spherical {mat.name} core, density {rho:.3g} g/cm^3 ({dens}), "
                 + ("bare core: ligand mass ignored (ligands assumed stripped in MALDI; the paper's assumption)"
                    if lig == 0 else f"with {lig:g} {ligand} ligands per nm^2 counted in the mass")
                 + "; singly charged molecular ions")
    assumptions = {"material": mat.name, "density": dens, "density_g_per_cm3": rho, "ligands_per_nm2": lig,
                   "ligand": ligand, "charge": 1, "statement": statement}
    return SizeResult(tuple(modes), assumptions, m_grid, ys,
                      {"min_mass_da": lo, "max_mass_da": hi, "smooth_fwhm_fraction": frac,
                       "min_prominence_fraction": prom, "baseline": baseline})


__all__ = ["SizeMode", "SizeResult", "molecular_ion_size"]
