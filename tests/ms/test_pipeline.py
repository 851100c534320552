"""Preprocessing, peak picking, analysis and molecular-ion sizing on synthetic spectra with exact truth."""

import numpy as np
import pytest

from qdlab.data.errors import InputError
from qdlab.data.types import MassSpectrum
from qdlab.materials import mass_da_to_diameter_nm
from qdlab.ms import analyze, molecular_ion_size, pick_peaks, preprocess, read_mass_spectrum
from qdlab.ms.preprocess import estimate_baseline, mad_noise
from qdlab.ms.synth import fragment_spectrum, molecular_ion_band, table1_spectrum


def test_mad_noise_of_gaussian_noise():
    rng = np.random.default_rng(3)
    assert mad_noise(rng.normal(0, 2.5, 200_000)) == pytest.approx(2.5, rel=0.01)


def test_snip_recovers_linear_baseline_under_narrow_peaks():
    x = np.arange(3000.0)
    base = 50 + 0.01 * x
    y = base + 300 * np.exp(-0.5 * ((x - 1500) / 5) ** 2)
    b = estimate_baseline(y, "snip", snip_iterations=100)
    # a straight line is a fixed point of SNIP's (y[i-k] + y[i+k])/2 clipping
    assert np.max(np.abs(b[600:2400] - base[600:2400])) < 1e-6
    t = estimate_baseline(y, "tophat", tophat_half_window=50)
    assert abs(t[1500] - base[1500]) < 1.0


def test_preprocess_settings_and_linear_signal():
    syn = fragment_spectrum(["Cd32P20(OA)5+"], noise=0.0, baseline_amplitude=0.5)
    pre = preprocess(syn.spectrum)
    assert pre.settings["transform"] == "sqrt" and pre.settings["smooth_half_window"] == 10
    assert pre.settings["baseline"] == "snip" and pre.settings["snip_decreasing"] is True
    # the back-transformed, corrected apex is the synthetic amplitude (1000) within a few %
    assert np.max(pre.linear) == pytest.approx(1000, rel=0.05)
    with pytest.raises(InputError):
        preprocess(syn.spectrum, transform="cube")


def test_table1_peaks_centroids_match_truth():
    syn = table1_spectrum(seed=1)
    pk = pick_peaks(syn.spectrum)
    truth = sorted(t["isotopic_average_mz"] for t in syn.truth)
    assert len(pk) == 6
    # centroid over the region above 20 % of each envelope: within 0.3 Da (about 1 % of the 25 Da FWHM)
    assert np.allclose(pk.mz_da, truth, atol=0.3)
    assert np.all(pk.snr > 10)
    assert np.allclose(pk.fwhm_da, 24, atol=4)


def test_analyze_table1_ranks_truth_first():
    syn = table1_spectrum(seed=2)
    res = analyze(syn.spectrum, weights="iupac2007", max_candidates=10)
    truth = [t["formula"] for t in sorted(syn.truth, key=lambda t: t["average_mz"])]
    assert [p.best.formula for p in res.assignment.peaks] == truth
    assert all(p.best.terms["envelope"] > -0.05 for p in res.assignment.peaks)
    d = res.to_dict()
    assert len(d["peaks"]) == 6 and d["assignment"]["peaks"][0]["candidates"][0]["formula"] == truth[0]


def test_doubly_charged_and_adduct_fragment():
    syn = fragment_spectrum(["[Cd32P20(OA)5Na2]2+"], noise=0.003, resolution=4000)
    res = analyze(syn.spectrum, adducts="none,Na", charges=[1, 2], snr=20)
    assert len(res.assignment.peaks) == 1
    pk = res.assignment.peaks[0]
    assert pk.mass_da == pytest.approx(syn.truth[0]["isotopic_average_mz"], abs=0.3)
    # +-3 Th at z = 2 is +-6 Da in mass: hundreds of compositions; the true one is among them, charge-balanced
    c = next(c for c in pk.candidates if c.formula == "[Cd32P20(OA)5+2Na]2+")
    assert c.formal_charge == 1 and abs(c.error_da) < 0.3
    assert "Cd32P20(OA)5^2+" in pk.formulas() or any("^2+" in f for f in pk.formulas())


def test_bimodal_band_sizes_like_the_paper():
    syn = molecular_ion_band((40_000, 140_000), 0.15, (1.0, 0.8), seed=4)
    res = molecular_ion_size(syn.spectrum)
    assert len(res.modes) == 2
    masses = [m.mass_da for m in res.modes]
    assert masses == pytest.approx([40_000, 140_000], rel=0.02)
    assert [m.diameter_nm for m in res.modes] == pytest.approx([2.8, 4.2], abs=0.05)
    assert res.assumptions["density_g_per_cm3"] == pytest.approx(5.96)
    assert res.assumptions["ligands_per_nm2"] == 0
    assert "bare core" in res.assumptions["statement"]
    for m in res.modes:
        assert m.diameter_range_nm[0] < m.diameter_nm < m.diameter_range_nm[1]
        assert m.fwhm_da == pytest.approx(2.3548 * 0.15 * m.mass_da, rel=0.15)
    assert sum(m.area_fraction for m in res.modes) == pytest.approx(1.0)


def test_single_band_before_growth_and_ligand_assumption():
    syn = molecular_ion_band((38_000,), 0.12, seed=5)
    bare = molecular_ion_size(syn.spectrum)
    assert len(bare.modes) == 1
    assert bare.modes[0].diameter_nm == pytest.approx(float(mass_da_to_diameter_nm(38_000, density="handbook")), abs=0.03)
    shell = molecular_ion_size(syn.spectrum, ligands_per_nm2=2.0)
    assert shell.modes[0].diameter_nm < bare.modes[0].diameter_nm
    assert "2 OA ligands per nm^2" in shell.assumptions["statement"]


def test_doubly_charged_mode_is_flagged():
    syn = molecular_ion_band((70_000, 140_000), 0.12, (0.3, 1.0), seed=6)
    res = molecular_ion_size(syn.spectrum)
    assert "2+ ion" in res.modes[0].note


def test_size_needs_high_mass_region():
    syn = table1_spectrum()
    with pytest.raises(InputError, match="molecular-ion"):
        molecular_ion_size(syn.spectrum)


def test_flex_file_end_to_end(tmp_path):
    """Synthetic Table-1 spectrum -> flex folder (realistic TOF constants) -> read -> analyze."""
    syn = table1_spectrum(seed=7, mz_range_da=(4900, 5900))
    syn.write(tmp_path / "spot" / "1" / "1SLin", "flex", ml1=2.0e6, ml2=12.5, ml3=1e-3, dw_ns=1.0)
    ms = read_mass_spectrum(tmp_path / "spot")
    res = analyze(ms, weights="iupac2007", max_candidates=5)
    truth = [t["formula"] for t in sorted(syn.truth, key=lambda t: t["average_mz"])]
    assert [p.best.formula for p in res.assignment.peaks] == truth


def test_empty_spectrum_analysis():
    mz = np.linspace(1000, 2000, 500)
    res = analyze(MassSpectrum(mz, np.full(500, 10.0)))
    assert len(res.peak_list) == 0 and res.assignment.peaks == ()


def test_plots_return_figures():
    from matplotlib.figure import Figure

    from qdlab.ms.plot import plot_analysis, plot_size, plot_spectrum

    syn = table1_spectrum(seed=9)
    assert isinstance(plot_spectrum(syn.spectrum), Figure)
    fig = plot_analysis(analyze(syn.spectrum, max_candidates=2))
    assert isinstance(fig, Figure) and any("Cd" in t.get_text() for t in fig.axes[0].texts)
    res = molecular_ion_size(molecular_ion_band(seed=9).spectrum)
    fig = plot_size(res)
    assert isinstance(fig, Figure) and len(fig.axes[0].texts) == 2


# MALDIquant's own unit-test vectors (sgibb/MALDIquant, tests/testthat/test_estimateBaseline-methods.R and
# test_estimateNoise-methods.R): intensity rep(10:1, 2) on 20 points.
_MQ_Y = np.array(list(range(10, 0, -1)) * 2, dtype=float)
_HEAD = list(range(10, 0, -1))


@pytest.mark.parametrize("iterations, decreasing, tail", [
    (2, True, [2.5, 4.0, 5.5, 7, 6, 5, 4, 3, 2, 1]),
    (2, False, [5, 4, 5.5, 7, 6, 5, 4, 3, 2, 1]),
    (100, True, [1.25, 1.5, 1.75, 1.375, 1] * 2),
    (100, False, [3.75, 3.375, 3, 2, 1, 2.5, 4, 3, 2, 1]),
])
def test_snip_matches_maldiquant_vectors(iterations, decreasing, tail):
    from qdlab.ms.preprocess import snip_baseline

    assert snip_baseline(_MQ_Y, iterations, decreasing=decreasing).tolist() == pytest.approx(_HEAD + tail)


@pytest.mark.parametrize("half_window, expected", [
    (1, [9, 9, *list(range(8, 0, -1)), 8, 8, 8, *list(range(7, 0, -1))]),
    (2, [8, 8, 8] + list(range(7, 0, -1)) + [6] * 5 + list(range(5, 0, -1))),
])
def test_tophat_matches_maldiquant_vectors(half_window, expected):
    assert estimate_baseline(_MQ_Y, "tophat", tophat_half_window=half_window).tolist() == pytest.approx(expected)


def test_mad_matches_r_mad():
    # R: mad(rep(10:1, 2)) = 1.4826 * median(|x - 5.5|) = 1.4826 * 2.5
    assert mad_noise(_MQ_Y) == pytest.approx(1.482602218505602 * 2.5)


def test_savitzky_golay_matches_maldiquant_vector():
    # MALDIquant tests/testthat/test_smoothingFilters-functions.R: .savitzkyGolay(values, 2, 3), edges included
    values = np.array([8, 1, 7, 6, 3, 13, 5, 2, 19, 11, 15, 18, 9, 10, 20, 12, 17, 14, 16, 4], dtype=float)
    expected = [7.64285714285716, 2.42857142857143, 4.85714285714286, 5.14285714285714, 6.94285714285714,
                8.37142857142857, 5.68571428571428, 7.14285714285714, 11.9714285714286, 15.2857142857143,
                14.8285714285714, 15.1714285714286, 10.9714285714286, 12.2285714285714, 15.0285714285714,
                16.4571428571429, 14.0857142857143, 16.7428571428571, 14.1714285714286, 4.45714285714283]
    pre = preprocess(MassSpectrum(np.arange(1.0, 21.0), values), transform="none", smooth_half_window=2,
                     smooth_order=3, baseline="none")
    assert pre.intensity.tolist() == pytest.approx(expected, abs=1e-10)


def test_detect_peaks_matches_maldiquant_vector():
    # MALDIquant tests/testthat/test_detectPeaks-methods.R: intensity (1, 2, 1, 2, 1), halfWindowSize 1 ->
    # peaks at masses 2 and 4 with S/N = Inf (MAD noise 0)
    s = MassSpectrum(np.arange(1.0, 6.0), np.array([1.0, 2.0, 1.0, 2.0, 1.0]))
    pre = preprocess(s, transform="none", smooth_half_window=0, baseline="none")
    pk = pick_peaks(pre, half_window=1)
    assert pk.apex_mz_da.tolist() == [2.0, 4.0]
    assert pk.intensity.tolist() == [2.0, 2.0] and np.all(np.isinf(pk.snr))
