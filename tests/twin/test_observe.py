"""The twin's aliquot summaries are what a measurement's analysis reads off the twin's own spectra.

One estimator per quantity (issue 22): for every shipped scenario, :func:`qdlab.spectra.analyze_pl` of
each aliquot's PL spectrum (in the scenario's detector window) gives the twin's peak within 0.5 nm, the
same bimodality and the FWHM within 1 meV. Before the band was read off the data, the ≤3-Gaussian fit's
own band gave up to 12.6 nm (1102-nm A2), 14.7 meV (1145-nm A3) and a bimodal flip (1010-nm A3).
"""

from __future__ import annotations

import numpy as np
import pytest

from qdlab.spectra import analyze_pl
from qdlab.twin.protocol import list_scenarios
from qdlab.twin.solver import simulate


@pytest.mark.parametrize("name", list_scenarios())
def test_twin_summary_is_analyze_pl_of_its_spectra(name: str) -> None:
    res = simulate(name)
    window = res.scenario.observation.pl_window_nm
    for aliquot, spectrum in zip(res.aliquots, res.pl, strict=True):
        measured = analyze_pl(spectrum, window_nm=window)
        assert measured.peak_wavelength_nm == pytest.approx(aliquot.pl_peak_nm, abs=0.5), aliquot.aliquot_id
        assert measured.bimodal == aliquot.bimodal, aliquot.aliquot_id
        assert measured.fwhm_mev == pytest.approx(aliquot.fwhm_mev, abs=1.0), aliquot.aliquot_id


def test_tem_observation_counts_only_what_a_micrograph_shows() -> None:
    """The TEM mean counts QDs at or above the visibility threshold: with 0 nm it is the number mean of all
    QDs; raising the threshold never lowers the mean nor raises the counted share (issue 19: compare TEM
    with TEM, not with a number mean dominated by sub-2-nm secondary QDs)."""
    from qdlab.twin.protocol import load_scenario

    sc = load_scenario("overgrowth-1010nm")
    runs = {t: simulate(sc.with_overrides({"optics.tem_min_diameter_nm": t})) for t in (0.0, 2.0, 2.5)}
    for k, a0 in enumerate(runs[0.0].aliquots):
        assert a0.tem_mean_diameter_nm == pytest.approx(a0.mean_diameter_nm, rel=1e-12)
        assert a0.tem_counted_fraction == pytest.approx(1.0)
        a2, a25 = runs[2.0].aliquots[k], runs[2.5].aliquots[k]
        assert a0.tem_mean_diameter_nm <= a2.tem_mean_diameter_nm <= a25.tem_mean_diameter_nm
        assert a0.tem_counted_fraction >= a2.tem_counted_fraction >= a25.tem_counted_fraction
    # the shipped threshold: the TEM mean grows over the overgrowth, as on the paper's micrographs
    default = simulate(sc).aliquots
    assert default[-1].tem_mean_diameter_nm > default[0].tem_mean_diameter_nm > default[-1].mean_diameter_nm


def _pl_reference(d, n, optics):
    """qd_pl_energy as plain numpy (the formulation the compiled deposit replaces)."""
    import math

    from qdlab.materials import curve_for
    from qdlab.twin.observe import ENERGY_GRID_EV as e
    from qdlab.units import FWHM_PER_SIGMA

    keep = (n > 0) & (d > 0.5)
    if not np.any(keep):
        return np.zeros_like(e)
    dk = d[keep]
    w = n[keep] * dk**optics.excitation_exponent
    pos = (curve_for("Cd3P2").emission_energy_ev(dk) - e[0]) / float(e[1] - e[0])
    ok = (pos >= 0) & (pos < e.size - 1)
    i0 = np.floor(pos[ok]).astype(np.int64)
    fr = pos[ok] - i0
    hist = np.bincount(i0, w[ok] * (1 - fr), minlength=e.size) + np.bincount(i0 + 1, w[ok] * fr, minlength=e.size)
    sig = optics.homogeneous_fwhm_mev / 1000 / FWHM_PER_SIGMA
    half = math.ceil(5 * sig / float(e[1] - e[0]))
    k = np.arange(-half, half + 1) * float(e[1] - e[0])
    return np.convolve(hist[: e.size], np.exp(-0.5 * (k / sig) ** 2) / (sig * math.sqrt(2 * math.pi)), mode="same")


def test_compiled_observation_equals_numpy() -> None:
    """The compiled per-aliquot work is numpy's to the last bit: the QD PL (the seed classes are fitted to it)
    and the size moments (the emission model is fitted to them)."""
    from qdlab.data.errors import InputError
    from qdlab.twin.observe import _emission_curve, qd_pl_energy, summarize
    from qdlab.twin.protocol import load_scenario

    assert _emission_curve("Cd3P2")[1].size == 5  # the compiled path (a Moreels curve) is the one tested
    optics = load_scenario("overgrowth-1010nm").optical_parameters()
    rng = np.random.default_rng(11)
    for t in range(40):
        size = int(rng.integers(0, 300))
        d = rng.uniform(0.2, 9.0, size)
        n = rng.uniform(0, 1e-6, size) * (rng.random(size) > 0.2)
        sec = rng.random(size) > 0.5
        assert np.array_equal(qd_pl_energy(d, n, optics), _pl_reference(d, n, optics)), t
        a = summarize("A", 0.0, 0.0, 0.0, d, n, sec, np.zeros(1), 1.0, 1.0, 1.0, 1.0, None, 2.0)
        live = n > 0
        ntot = n[live].sum()
        if ntot == 0:
            assert np.isnan(a.mean_diameter_nm) and a.n_classes == 0
            continue
        w = n[live] / ntot
        mean = (w * d[live]).sum()
        vol = n[live] * d[live] ** 3
        seen = live & (d >= 2.0)
        want = [mean, np.sqrt((w * (d[live] - mean) ** 2).sum()), n[live & sec].sum() / ntot,
                vol[sec[live]].sum() / vol.sum(), (n[seen] * d[seen]).sum() / n[seen].sum(), n[seen].sum() / ntot]
        got = [a.mean_diameter_nm, a.diameter_std_nm, a.secondary_fraction, a.secondary_mass_fraction,
               a.tem_mean_diameter_nm, a.tem_counted_fraction]
        assert got == [float(v) for v in want], t
        assert a.n_classes == int(live.sum())
    with pytest.raises(InputError):  # an infinite diameter: the sizing curve refuses it, as before
        qd_pl_energy(np.array([2.0, np.inf]), np.array([1.0, 1.0]), optics)
