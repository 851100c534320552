"""Analyses that do not apply say so: kind mismatch, implausible axes, negated data, saturation, fits at a
bound; and 'one number, one answer' between ``spectra analyze`` and ``spectra series``."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qdlab.cli.main import main
from qdlab.data.errors import InputError, ModelError
from qdlab.data.types import Spectrum
from qdlab.spectra import analyze_pl
from qdlab.spectra.checks import check_axis, kind_warning, saturation
from qdlab.spectra.io import write_cary_csv, write_delimited
from qdlab.spectra.synth import synth_absorbance, synth_pl

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "overgrowth-1010nm"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in args else {}), out, err


def test_pl_axis_x1000_is_refused_with_the_reason() -> None:
    spec, _ = synth_pl([(1155.664, 90.0, 1.0)], noise=0.003)
    scaled = dataclasses.replace(spec, x=spec.x * 1000)
    with pytest.raises(InputError, match=r"entirely outside the 175-3300 nm .* x1000"):
        analyze_pl(scaled)


def test_axis_partly_outside_is_warned() -> None:
    s = Spectrum(np.linspace(100, 900, 100), np.ones(100), "nm", "pl")
    w = check_axis(s)
    assert len(w) == 1 and "outside the 175-3300 nm" in w[0]
    assert check_axis(Spectrum(np.linspace(1.0, 2.0, 10), np.ones(10), "ev", "pl")) == []


def test_negated_pl_is_refused() -> None:
    spec, _ = synth_pl([(1000.0, 100.0, 1.0)], noise=0.003)
    with pytest.raises(InputError, match="negative"):
        analyze_pl(dataclasses.replace(spec, y=-spec.y))


def test_absorbance_file_analysed_as_pl_is_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = synth_absorbance(1000.0, fwhm_mev=80.0, noise=0.003)
    f = write_cary_csv(tmp_path / "abs.csv", a)
    code, d, _, _ = run(capsys, "spectra", "analyze", str(f), "--kind", "pl", "--json")
    assert code == 0
    assert any("the file says absorbance but it is analysed as pl" in w for w in d["spectra"][0]["warnings"])
    code, _, out, _ = run(capsys, "spectra", "analyze", str(f), "--kind", "pl")
    assert code == 0 and "warning:" in out and "says absorbance" in out.replace("\n", " ")
    # analysed as what it is: no kind warning
    code, d, _, _ = run(capsys, "spectra", "analyze", str(f), "--kind", "absorbance", "--json")
    assert code == 0 and not any("says" in w for w in d["spectra"][0]["warnings"])


def test_pl_file_analysed_as_absorbance_is_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, _ = synth_pl([(1000.0, 100.0, 1.0)], noise=0.003)
    f = write_delimited(tmp_path / "pl.csv", dataclasses.replace(spec, label="PL intensity"))
    code, d, out, err = run(capsys, "spectra", "analyze", str(f), "--kind", "absorbance", "--json")
    text = out + err
    if code == 0:
        assert any("says pl" in w for w in d["spectra"][0]["warnings"])
    else:  # a PL band has no second-derivative exciton structure: refused with the reason, one line
        assert "no exciton found" in text and "says pl" in text


def test_kind_warning_uses_only_what_the_file_said() -> None:
    s = Spectrum(np.arange(3.0), np.ones(3), "nm", "pl", {"kind_source": "default"}, "x")
    assert kind_warning(s, "absorbance") == []
    s2 = dataclasses.replace(s, meta={"header_kind": "transmittance"})
    assert "convert it first" in kind_warning(s2, "absorbance")[0]
    assert kind_warning(dataclasses.replace(s, meta={"header_kind": "excitation"}), "pl") == []


def test_clipped_pl_top_is_masked_and_the_band_recovered() -> None:
    """A detector-saturated PL band (flat top at 70 % of the true maximum): flanks fitted, top masked."""
    spec, _ = synth_pl([(1100.0, 90.0, 1.0)], noise=0.002, n_points=1200)
    clipped = dataclasses.replace(spec, y=np.minimum(spec.y, 0.7 * spec.y.max()))
    mask, why, _ = saturation(clipped)
    assert mask.sum() > 20 and "flat top" in (why or "")
    r = analyze_pl(clipped)
    assert r.saturated_points == int(mask.sum()) and any("saturated" in w for w in r.warnings)
    assert r.peaks[r.main].wavelength_nm == pytest.approx(1100.0, abs=1.0)
    assert r.peaks[r.main].fwhm_mev == pytest.approx(90.0, rel=0.05)


def test_unclipped_band_has_no_saturation() -> None:
    spec, _ = synth_pl([(1100.0, 90.0, 1.0)], noise=0.002)
    assert not saturation(spec)[0].any()
    # a smooth maximum written with 3 decimals repeats its top value: not saturation
    rounded = dataclasses.replace(spec, y=np.round(spec.y / spec.y.max(), 3))
    assert not saturation(rounded)[0].any()


def test_component_at_a_bound_or_below_noise_is_flagged() -> None:
    """Forcing three components on a single clean band leaves spare ones degenerate: flagged and warned."""
    spec, _ = synth_pl([(1000.0, 100.0, 1.0)], noise=0.01, seed=3)
    r = analyze_pl(spec, n_components=3)
    flagged = {k for k, v in r.flags.items() if v}
    if flagged:
        assert r.warnings and all(any(k in w for w in r.warnings) for k in flagged if k != "_fit")
    clean = analyze_pl(spec)
    assert clean.n_components == 1 and not clean.flags and not clean.warnings


def test_analyze_and_series_report_the_same_numbers_for_the_example_aliquot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/overgrowth-1010nm A3: the band peak, FWHM, modes and components agree field by field."""
    src = EXAMPLE / "pl"
    if not src.exists():
        pytest.skip("example not present")
    folder = tmp_path / "pl"
    shutil.copytree(src, folder)
    code, one, _, _ = run(capsys, "spectra", "analyze", str(folder / "A3.txt"), "--json")
    assert code == 0
    code, ser, _, _ = run(capsys, "spectra", "series", str(folder), "--json")
    assert code == 0
    a = one["spectra"][0]
    row = next(r for r in ser["table"] if r["aliquot_id"] == "A3")
    for k in ("peak_wavelength_nm", "peak_energy_ev", "fwhm_mev", "fwhm_nm", "bimodal", "n_components",
              "mode_wavelengths_nm", "component_wavelengths_nm", "component_fractions", "integrated"):
        assert a[k] == row[k], k
    assert a["bimodal"] and len(a["mode_wavelengths_nm"]) == 2
    code, _, out, _ = run(capsys, "spectra", "analyze", str(folder / "A3.txt"))
    assert code == 0 and "band" in out and "component" in out and "spectra series" in out.replace("\n", " ")


def test_band_saturated_past_its_flanks_is_refused_with_the_reason() -> None:
    """An Ocean Optics band above the 16-bit ceiling: flanks fitted when they determine the band, else refused.

    A clipped point is a lower bound on the true signal, so a flank fit passing below the clipped top is
    invented (this one put the peak at 953 nm, FWHM nan, before the check); the error says saturated.
    """
    spec, _ = synth_pl([(1100.0, 90.0, 1.0)], noise=0.01)
    mild = dataclasses.replace(spec, y=1e6 * spec.y / spec.y.max(), meta={"format": "ocean"})
    r = analyze_pl(mild)
    assert r.saturated_points > 100 and r.peak_wavelength_nm == pytest.approx(1100.0, abs=5.0)
    deep = dataclasses.replace(spec, y=1e7 * spec.y / spec.y.max(), meta={"format": "ocean"})
    assert saturation(deep)[0].sum() > spec.x.size // 3
    with pytest.raises(ModelError, match=r"saturated.*shorter integration"):
        analyze_pl(deep)
