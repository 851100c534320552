"""Calibration against synthetic ground truth, and the measured-series parser."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlab.data.errors import FormatError, InputError
from qdlab.twin import calibrate, load_scenario, simulate
from qdlab.twin.calibration import read_series


def _series(res):
    return [{"aliquot_id": a.aliquot_id, "time_min": a.time_min, "pl_peak_nm": a.pl_peak_nm, "fwhm_mev": a.fwhm_mev}
            for a in res.aliquots]


def test_recovers_synthetic_truth():
    sc = load_scenario("overgrowth-1010nm")
    truth = sc.with_overrides({"seeds.surface.etch_factor": 1.7, "seeds.surface.reactivity_factor": 0.8})
    fit = calibrate(sc, _series(simulate(truth)), starts=2)
    assert fit.values["seeds.surface.etch_factor"] == pytest.approx(1.7, rel=1e-4)
    assert fit.values["seeds.surface.reactivity_factor"] == pytest.approx(0.8, rel=1e-4)
    assert fit.chi2 < 1e-6
    assert "seeds.surface.etch_factor" in fit.report()
    d = fit.to_dict()
    assert set(d) >= {"values", "std", "covariance", "residuals", "chi2"}
    # the calibrated scenario reproduces the series
    again = simulate(fit.scenario)
    assert again.aliquots[-1].pl_peak_nm == pytest.approx(simulate(truth).aliquots[-1].pl_peak_nm, abs=0.01)


def test_screened_starts_refine_only_the_best_candidates():
    """8 candidates screened by one simulation each, least squares from the best 2: the truth is found and the
    report says which starts were refined (the screened-out ones keep their screening cost)."""
    sc = load_scenario("overgrowth-1010nm")
    truth = sc.with_overrides({"seeds.surface.etch_factor": 1.7, "seeds.surface.reactivity_factor": 0.8})
    fit = calibrate(sc, _series(simulate(truth)), starts=8, refine=2)
    assert fit.values["seeds.surface.etch_factor"] == pytest.approx(1.7, rel=1e-4)
    assert fit.values["seeds.surface.reactivity_factor"] == pytest.approx(0.8, rel=1e-4)
    refined = [s for s in fit.starts if s["refined"]]
    screened = [s for s in fit.starts if not s["refined"]]
    assert len(fit.starts) == 8 and len(refined) == 2
    assert all(s["nfev"] == 1 for s in screened)
    # the refined ones were the candidates of lowest screening cost: every screened-out candidate started
    # no lower than the fit's own cost
    assert min(s["cost"] for s in screened) >= min(s["cost"] for s in refined)
    assert "(2 refined)" in fit.report()


def test_noisy_fit_gives_finite_uncertainty():
    sc = load_scenario("overgrowth-1010nm")
    truth = sc.with_overrides({"seeds.surface.reactivity_factor": 1.3})
    rows = _series(simulate(truth))
    for k, r in enumerate(rows):  # deterministic +/- 5 nm "noise"
        r["pl_peak_nm"] += 5.0 if k % 2 else -5.0
    fit = calibrate(sc, rows, params=["seeds.surface.reactivity_factor"], starts=1)
    v = fit.values["seeds.surface.reactivity_factor"]
    s = fit.std["seeds.surface.reactivity_factor"]
    assert 0 < s < 0.2 * v
    assert abs(v - 1.3) < 3 * s


def test_unknown_parameter_is_input_error():
    with pytest.raises(InputError):
        calibrate("overgrowth-1010nm", [{"time_min": 0, "pl_peak_nm": 1010}], params=["nope"])


def test_read_series_csv_and_json(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("aliquot_id,time_min,pl_peak_nm,fwhm_mev,diameter_nm\nA0,0,1010,150,\nA1,6,1000,140,2.9\n")
    rows = read_series(p)
    assert rows[1]["diameter_nm"] == 2.9 and rows[0]["diameter_nm"] != rows[0]["diameter_nm"]  # NaN
    q = tmp_path / "s.json"
    q.write_text(json.dumps({"aliquots": [{"time_min": 0, "pl_peak_nm": 1010, "fwhm_mev": 150}]}))
    assert read_series(q)[0]["aliquot_id"] == "A0"


@pytest.mark.parametrize(
    ("text", "line"),
    [("time_min,pl_peak_nm\n0,abc\n", 2), ("time_min,pl_peak_nm\n0,1010\n5,-3\n", 3), ("x,y\n1,2\n", 2)],
)
def test_read_series_errors_name_the_line(tmp_path, text, line):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(FormatError) as exc:
        read_series(p)
    assert exc.value.line == line


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 600, allow_nan=False), st.floats(300, 2500, allow_nan=False),
                          st.one_of(st.none(), st.floats(20, 500, allow_nan=False))), min_size=1, max_size=12))
def test_read_series_roundtrip_property(tmp_path_factory, rows):
    rows = sorted(rows, key=lambda r: r[0])  # by time only (None FWHMs do not compare)
    p = tmp_path_factory.mktemp("h") / "s.csv"
    lines = ["aliquot_id,time_min,pl_peak_nm,fwhm_mev"]
    lines += [f"A{k},{t!r},{w!r},{'' if f is None else repr(f)}" for k, (t, w, f) in enumerate(rows)]
    p.write_text("\n".join(lines) + "\n")
    out = read_series(p)
    assert [r["time_min"] for r in out] == [t for t, _, _ in rows]
    assert [r["pl_peak_nm"] for r in out] == [w for _, w, _ in rows]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_read_series_never_crashes_on_garbage(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("g") / "g.csv"
    p.write_text(text)
    try:
        read_series(p)
    except FormatError:
        pass
