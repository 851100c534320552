"""XRD analyses that do not apply must say so (issue 19 section 4).

Independent truth: a *measured* powder pattern of quartz (PANalytical Empyrean, shipped as test data in
the ``fairmat-readers-xrd`` 0.0.10 sdist on PyPI, see tests/data/real/SOURCES-xrd-match.md), whose peaks
are checked against pymatgen's quartz pattern; pymatgen XRDCalculator patterns of other materials
broadened by the Langford-Wilson sphere FWHM (a model qdlab does not fit); Poisson replicas for the
standard errors.
"""

import dataclasses
import functools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks

from qdlab.cli.main import main
from qdlab.data.errors import ModelError
from qdlab.xrd.io import read_diffractogram
from qdlab.xrd.match import acceptance_criteria, fit_crystallite_size, match_phases
from qdlab.xrd.scherrer import MIN_PEAK_SNR, scherrer_from_pattern
from qdlab.xrd.synth import simulate_measurement

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make the sibling helper importable
from pymatgen_patterns import pattern

QUARTZ = Path(__file__).parents[1] / "data" / "real" / "xrd-match" / "XRD-918-16_10.xrdml"


@functools.cache
def _quartz_match():
    return match_phases(read_diffractogram(QUARTZ))


def test_measured_file_is_quartz_by_pymatgen():
    """The file's three strongest peaks are alpha-quartz's (100), (101), (112) within 0.05 deg: the truth
    the no-match test relies on comes from the file and pymatgen, not from qdlab."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.core import Lattice, Structure

    d = read_diffractogram(QUARTZ)
    idx, _ = find_peaks(d.intensity, prominence=0.03 * d.intensity.max(), width=2)
    strongest = d.two_theta_deg[idx[np.argsort(-d.intensity[idx])][:3]]
    quartz = Structure.from_spacegroup("P3_221", Lattice.hexagonal(4.9134, 5.4052), ["Si", "O"],
                                       [[0.4697, 0, 0], [0.4135, 0.2669, 0.1191]])
    ref = XRDCalculator(wavelength=d.wavelength_angstrom).get_pattern(quartz, two_theta_range=(4, 70))
    strong_ref = ref.x[ref.y > 20]
    assert all(np.min(np.abs(strong_ref - t)) < 0.05 for t in strongest)


def test_measured_quartz_gives_no_phase_matched():
    m = _quartz_match()
    crit = acceptance_criteria()
    assert m.best_phase == "none" and not m.matched
    best = m.scores[0]
    assert m.best_candidate == best.phase and best.phase in ("Cd3P2", "Cd", "CdO", "amorphous")
    # every criterion fails on quartz, by a wide margin
    assert best.rwp > 2 * crit["rwp_max"]
    assert best.explained_fraction < 0.1 * crit["min_explained_fraction"]
    assert best.unexplained_peak_rel > 0.9
    assert len(m.reasons) == 3 and m.warnings[0].startswith("no phase matched")
    # the Cd3P2 fit that used to be reported ends at a bound, and says so
    assert m.size_fit is not None and m.size_fit.at_bound and m.size_fit.at_bound_parameters
    assert any("fit at a bound" in w for w in m.warnings)
    assert math.isnan(m.size_fit.diameter_std_nm)
    assert m.scherrer is not None and m.scherrer["applies"] is False
    assert m.impurities == []
    json.dumps(m.to_dict(), allow_nan=True)


def test_cli_says_no_phase_matched(capsys):
    _quartz_match()  # warm the sphere libraries
    assert main(["xrd", "match", str(QUARTZ), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["best_phase"] == "none" and d["matched"] is False and d["best_candidate"] == "Cd3P2"
    assert d["size_fit"]["at_bound_parameters"] and any("at a bound" in w for w in d["warnings"])
    assert main(["xrd", "match", str(QUARTZ)]) == 0
    text = capsys.readouterr().out
    assert "NO PHASE MATCHED: best candidate Cd3P2" in text and "WARNING: Cd3P2 size fit: fit at a bound" in text
    assert "Cd3P2 crystallite size" not in text  # no size table for a phase that was not matched


@pytest.mark.parametrize(("name", "diameter_nm"), [("CdS", 4.0), ("Si", 30.0), ("NaCl", 30.0)])
def test_other_materials_are_not_matched(name, diameter_nm):
    m = match_phases(pattern(name, diameter_nm, seed=1))
    assert m.best_phase == "none" and m.reasons
    assert m.scores[0].unexplained_peak_rel > acceptance_criteria()["max_unexplained_peak_rel"]


def test_cd3p2_like_pymatgen_pattern_matches_with_its_scherrer_size():
    """Sticks of pymatgen broadened to 4.0 nm spheres (Scherrer closed form): Cd3P2 matches and the Debye fit
    of monodisperse spheres returns 4.0 nm; the Scherrer cross-check too."""
    dg = pattern("Cd3P2", 4.0, seed=2)
    m = match_phases(dg, sigma_rel=0.0)
    assert m.matched and m.best_phase == "Cd3P2" and not m.reasons
    assert m.size_fit.diameter_nm == pytest.approx(4.0, rel=0.03)
    assert not m.size_fit.at_bound and m.size_fit.diameter_std_nm > 0
    assert m.scherrer["applies"] is True and m.scherrer["diameter_nm"] == pytest.approx(4.0, rel=0.05)
    assert not any("at a bound" in w for w in m.warnings)


def test_cdo_pattern_matches_cdo():
    m = match_phases(pattern("CdO", 4.0, seed=3))
    assert m.matched and m.best_phase == "CdO"


def test_diameter_beyond_the_library_is_flagged_at_its_bound():
    fit = fit_crystallite_size(pattern("Cd3P2", 12.0, seed=2), sigma_rel=0.0)
    assert fit.at_bound and fit.diameter_nm == pytest.approx(7.0, abs=0.15)
    assert any(p.startswith("diameter_nm at its upper bound") for p in fit.at_bound_parameters)
    assert math.isnan(fit.diameter_std_nm) and any("standard errors not available" in w for w in fit.warnings)


def test_lattice_beyond_its_limit_is_flagged_at_its_bound():
    d = simulate_measurement(4.0, sigma_rel=0.08, seed=3).diffractogram
    wrong = dataclasses.replace(d, wavelength_angstrom=1.05 * d.wavelength_angstrom)  # = 5 % lattice mismatch
    fit = fit_crystallite_size(wrong, sigma_rel=0.08)
    assert fit.lattice_scale == pytest.approx(1.03, abs=0.002)
    assert fit.at_bound_parameters == ["lattice_scale at its upper bound 1.030"]
    ok = fit_crystallite_size(d, sigma_rel=0.08)
    assert not ok.at_bound and ok.at_bound_parameters == [] and ok.warnings == []


@pytest.mark.slow
def test_standard_errors_match_the_scatter_of_poisson_replicas():
    """Eight Poisson replicas of one pattern: the spread of the fitted diameter and lattice scale agrees with
    the reported 1-sigma errors within the sampling error of an 8-sample SD (factor ~2)."""
    fits = [fit_crystallite_size(simulate_measurement(4.0, sigma_rel=0.08, peak_counts=300, seed=100 + k).diffractogram,
                                 sigma_rel=0.08) for k in range(8)]
    d = np.array([f.diameter_nm for f in fits])
    a = np.array([f.lattice_scale for f in fits])
    ratio_d = np.std(d, ddof=1) / np.median([f.diameter_std_nm for f in fits])
    ratio_a = np.std(a, ddof=1) / np.median([f.lattice_scale_std for f in fits])
    assert 0.4 < ratio_d < 2.5 and 0.4 < ratio_a < 2.5
    assert abs(d.mean() - 4.0) < 0.1 + 3 * np.std(d, ddof=1)


def test_scherrer_recovers_pymatgen_broadening_and_flags_an_empty_window():
    """CdO (200) broadened to 15 nm spheres by the closed form: Scherrer returns 15 nm (13 evaluations). A
    window with no line is refused: the fit wandered for 1,487 evaluations there before ending on a 'peak'
    below MIN_PEAK_SNR; it now stops at MAX_PEAK_FIT_EVALUATIONS and says there is no well-defined line."""
    res, peak = scherrer_from_pattern(pattern("CdO", 15.0, seed=1), (36.0, 41.0))
    assert res.diameter_nm == pytest.approx(15.0, rel=0.03) and peak.amplitude_snr > MIN_PEAK_SNR
    assert peak.at_bound_parameters == []
    with pytest.raises(ModelError, match="no well-defined line"):
        scherrer_from_pattern(pattern("CdO", 15.0, seed=1), (44.0, 50.0))


CORPUS = Path(__file__).parents[1] / "data" / "real" / "xrd"


@pytest.mark.parametrize("name", ["fityk/SiC_Zn.dat", "xrayutilities/LaB6_d500_si_psd.xye"])
def test_corpus_patterns_of_other_materials_are_not_matched(name):
    """Measured SiC + Zn and LaB6 patterns of the real-files corpus (tests/data/real/SOURCES.md)."""
    path = CORPUS / name
    m = match_phases(read_diffractogram(path, wavelength_angstrom=1.54051))
    assert m.best_phase == "none" and not m.matched and m.reasons
