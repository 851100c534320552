"""Aliquot series: Table 2 of the reference paper reproduced from synthetic series."""

from __future__ import annotations

import pytest

from qdlab.data.errors import InputError
from qdlab.spectra import analyze_series
from qdlab.spectra.synth import synth_series

# Table 2 (Tiwari, Liang & Fedin, Nanoscale 2025): initial, brightest and final (lambda nm, QY)
TABLE2 = [
    ((965, 0.22), (965, 0.22), (1338, 0.073)),
    ((1010, 0.13), (1113, 0.26), (1277, 0.15)),
    ((1102, 0.19), (956, 0.31), (1117, 0.067)),
    ((1145, 0.15), (1055, 0.19), (1224, 0.18)),
]


def _trial(row: tuple) -> tuple[list, list]:
    (l0, q0), (lb, qb), (lf, qf) = row
    if (l0, q0) == (lb, qb):  # monotonic decline (965 nm trial)
        peaks = [l0, 1050.0, 1150.0, 1250.0, lf]
        qys = [q0, 0.18, 0.14, 0.10, qf]
    else:
        peaks = [l0, (l0 - 50, l0 + 100), lb, 0.5 * (lb + lf), lf]  # A1: two resolved populations
        qys = [q0, 0.5 * (q0 + qb), qb, 0.5 * (qb + qf), qf]
    return peaks, qys


@pytest.mark.parametrize("row", TABLE2, ids=[f"{r[0][0]}nm" for r in TABLE2])
def test_table2_summary(row: tuple) -> None:
    peaks, qys = _trial(row)
    series, _ = synth_series(peaks, brightness=qys, noise=0.002, apex=True)  # Table 2 reads wavelength plots
    r = analyze_series(series, qy=qys)
    for key, (lam, qy) in zip(("initial", "brightest", "final"), row, strict=True):
        assert r.summary[key]["wavelength_nm"] == pytest.approx(lam, abs=1.0), key
        assert r.summary[key]["qy"] == pytest.approx(qy), key
    assert r.summary["brightness_basis"] == "qy"
    if not isinstance(peaks[1], float):
        assert r.table[1]["bimodal"] and r.summary["bimodal_aliquots"] == ["A1"]
    assert r.summary["shift_nm"] == pytest.approx(row[2][0] - row[0][0], abs=1.5)


def test_brightest_by_integrated_pl_without_qy() -> None:
    series, _ = synth_series([1000.0, 1050.0, 1100.0], brightness=[1.0, 3.0, 2.0])
    r = analyze_series(series)
    assert r.summary["brightest"]["aliquot_id"] == "A1"
    assert r.summary["brightness_basis"] == "integrated_pl"
    assert r.table[1]["relative_brightness"] == pytest.approx(3.0, rel=1e-3)
    assert r.table[2]["time_min"] == 10.0


def test_qy_by_id_and_validation() -> None:
    series, _ = synth_series([1000.0, 1050.0])
    r = analyze_series(series, qy={"A1": 0.2})
    assert r.table[0]["qy"] is None and r.summary["brightest"]["aliquot_id"] == "A1"
    with pytest.raises(InputError):
        analyze_series(series, qy=[0.1])
    with pytest.raises(InputError):
        analyze_series(series, qy=[22.0, 13.0])
    with pytest.raises(InputError):
        analyze_series(series, qy={"A7": 0.1})


def test_plots_return_figures(tmp_path) -> None:
    from qdlab.spectra import analyze_pl
    from qdlab.spectra.plot import plot_fits, plot_series_overview, plot_stacked, plot_trends, save_figure

    series, _ = synth_series([1000.0, (980.0, 1100.0)], n_points=300)
    r = analyze_series(series, qy=[0.1, 0.2])
    for fig in (plot_stacked(series), plot_trends(r), plot_series_overview(series, r), plot_fits([(series[1], analyze_pl(series[1]))])):
        assert hasattr(fig, "savefig")
        p = save_figure(fig, tmp_path / "f.png")
        assert p.stat().st_size > 1000
    with pytest.raises(InputError):
        save_figure(plot_stacked(series), tmp_path / "f.gif")


def test_failed_aliquot_keeps_its_row() -> None:
    import dataclasses

    import numpy as np

    series, _ = synth_series([1000.0, 1050.0, 1100.0])
    dark = dataclasses.replace(series[0], y=np.zeros_like(series[0].y))
    from qdlab.data.types import SpectrumSeries

    s2 = SpectrumSeries((dark, series[1], series[2]), series.time_min, series.aliquot_ids)
    r = analyze_series(s2, qy=[0.01, 0.2, 0.1])
    assert r.table[0]["error"] and r.table[0]["peak_wavelength_nm"] is None
    assert r.summary["initial"]["aliquot_id"] == "A1" and r.summary["failed_aliquots"] == ["A0"]
    assert r.summary["brightest"]["aliquot_id"] == "A1"
    import json

    json.dumps(r.to_dict(), allow_nan=False)


def test_absorbance_series_tracks_the_cluster_exciton() -> None:
    """Fig. 2a: the MSC absorption peak moves 441 -> 447 nm while the clusters form."""
    from qdlab.data.types import SpectrumSeries
    from qdlab.spectra.series import analyze_absorbance_series
    from qdlab.spectra.synth import synth_absorbance

    lams, ods = [441.0, 443.0, 445.0, 447.0], [0.1, 0.2, 0.35, 0.3]
    spectra = [synth_absorbance(lam, fwhm_mev=50.0, peak_od=od, noise=0.003, seed=i)[0] for i, (lam, od) in enumerate(zip(lams, ods, strict=True))]
    r = analyze_absorbance_series(SpectrumSeries.from_spectra(spectra, time_min=[0, 5, 10, 15]))
    got = [row["exciton_wavelength_nm"] for row in r.table]
    assert got == pytest.approx(lams, abs=0.3)
    assert r.summary["strongest"]["aliquot_id"] == "A2"
    assert r.summary["shift_nm"] == pytest.approx(6.0, abs=0.5)
