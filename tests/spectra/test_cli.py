"""CLI: qdlab spectra analyze|series and qdlab plqy — one JSON object, exit 2 with one line on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qdlab.cli.main import main
from qdlab.data.types import Spectrum
from qdlab.spectra.io import write_cary_csv, write_delimited, write_jcamp, write_ocean_optics
from qdlab.spectra.synth import detector_response, synth_absorbance, synth_pl, synth_series, synth_sphere


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in args else {}), err


def test_analyze_pl_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, _ = synth_pl([(1000.0, 110.0, 1.0), (1150.0, 90.0, 0.6)], noise=0.003)
    f = write_delimited(tmp_path / "bi.csv", spec)
    png = tmp_path / "fit.png"
    code, d, _ = run(capsys, "spectra", "analyze", str(f), "--kind", "pl", "--plot", str(png), "--json")
    assert code == 0 and png.exists()
    s = d["spectra"][0]
    assert s["bimodal"] is True and s["kind"] == "pl"
    assert [round(p["wavelength_nm"]) for p in s["peaks"]] == [1000, 1150]
    assert {"wavelength_nm", "energy_ev", "fwhm_mev", "fwhm_nm", "area_fraction"} <= set(s["peaks"][0])


def test_analyze_absorbance_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = synth_absorbance(447.0, fwhm_mev=60.0)
    files = [write_cary_csv(tmp_path / "abs.csv", a), write_jcamp(tmp_path / "abs.jdx", a)]
    code, d, _ = run(capsys, "spectra", "analyze", *map(str, files), "--kind", "absorbance", "--json")
    assert code == 0 and len(d["spectra"]) == 2
    for s in d["spectra"]:
        assert s["peaks"][0]["wavelength_nm"] == pytest.approx(447.0, abs=0.3)


def test_analyze_needs_x_unit_for_headerless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, _ = synth_pl([(1100.0, 120.0, 1.0)], axis="ev")
    f = write_delimited(tmp_path / "raw.txt", spec, delimiter="\t", header=False)
    code, _, err = run(capsys, "spectra", "analyze", str(f), "--json")
    assert code == 2 and "--x-unit" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, d, _ = run(capsys, "spectra", "analyze", str(f), "--x-unit", "ev", "--json")
    assert code == 0 and d["spectra"][0]["peaks"][0]["wavelength_nm"] == pytest.approx(1100.0, abs=0.5)


@pytest.mark.parametrize("args", [["spectra", "analyze", "/nonexistent.csv"], ["spectra", "analyze", "X", "--kind", "raman"],
                                  ["spectra", "series", "/nonexistent"], ["plqy", "relative", "a", "b"]])
def test_bad_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, _, err = run(capsys, *args, "--json")
    assert code == 2 and err.strip() and "Traceback" not in err


def test_garbage_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "junk.csv"
    f.write_bytes(bytes(range(256)))
    code, _, err = run(capsys, "spectra", "analyze", str(f), "--json")
    assert code == 2 and "junk.csv" in err


def test_series_folder_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    series, _ = synth_series([1010.0, (960.0, 1090.0), 1113.0, 1277.0], noise=0.002, n_points=400, apex=True)
    folder = tmp_path / "aliquots"
    folder.mkdir()
    for i, s in enumerate(series):
        write_ocean_optics(folder / f"A{i}_{5 * i}min.txt", s)
    qy = tmp_path / "qy.csv"
    qy.write_text("aliquot_id,qy\nA0,13%\nA1,0.18\nA2,26%\nA3,15%\n")
    png = tmp_path / "series.png"
    code, d, _ = run(capsys, "spectra", "series", str(folder), "--qy-file", str(qy), "--plot", str(png), "--json")
    assert code == 0 and png.exists()
    assert [r["aliquot_id"] for r in d["table"]] == ["A0", "A1", "A2", "A3"]
    assert d["table"][1]["bimodal"] and not d["table"][2]["bimodal"]
    sm = d["summary"]
    assert (sm["initial"]["aliquot_id"], sm["brightest"]["aliquot_id"], sm["final"]["aliquot_id"]) == ("A0", "A2", "A3")
    assert sm["brightest"]["wavelength_nm"] == pytest.approx(1113.0, abs=1.0) and sm["brightest"]["qy"] == pytest.approx(0.26)
    code, d2, _ = run(capsys, "spectra", "series", str(folder), "--qy", "13%,18%,-,15%", "--json")
    assert code == 0 and d2["summary"]["brightest"]["aliquot_id"] == "A1"


def test_plqy_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = synth_sphere(0.26, 0.4, indirect_absorptance=0.1)
    files = {k: write_delimited(tmp_path / f"{k}.csv", v) for k, v in s.items()}
    lam = np.linspace(600.0, 1700.0, 600)
    resp = write_delimited(tmp_path / "resp.csv", Spectrum(lam, detector_response(lam), "nm", "other", {}, "R"))
    win = ["--excitation-window", "780", "840", "--emission-window", "900", "1600", "--response", str(resp)]
    code, d, _ = run(capsys, "plqy", "demello", str(files["a"]), str(files["b"]), str(files["c"]), *win, "--json")
    assert code == 0 and d["qy"] == pytest.approx(0.26, abs=1e-3) and d["method"] == "demello"
    code, d, _ = run(capsys, "plqy", "two-step", str(files["blank"]), str(files["sample"]), *win, "--json")
    assert code == 0 and d["qy"] == pytest.approx(0.26, abs=1e-3)
    ref, _ = synth_pl([(1100.0, 150.0, 1.0)])
    qd, _ = synth_pl([(1250.0, 110.0, 2.0)])
    rf, qf = write_delimited(tmp_path / "ref.csv", ref), write_delimited(tmp_path / "qd.csv", qd)
    code, d, _ = run(capsys, "plqy", "relative", str(qf), str(rf), "--sample-absorbance", "0.05", "--reference-absorbance", "0.05",
                     "--reference-qy", "IR-26-legacy", "--json")
    assert code == 0 and any("IR-26" in w for w in d["warnings"]) and d["reference"]["name"] == "IR-26-legacy"
    code, _, err = run(capsys, "plqy", "relative", str(qf), str(rf), "--sample-absorbance", "0.05", "--reference-absorbance", "0.05",
                       "--reference-qy", "0.5%", "--reference-solvent", "dce", "--json")
    assert code == 2 and "provenance" in err
    code, d, _ = run(capsys, "plqy", "references", "--json")
    assert code == 0 and "IR-125" in d["dyes"]


def test_series_absorbance_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qdlab.data.types import SpectrumSeries

    spectra = [synth_absorbance(lam, fwhm_mev=50.0)[0] for lam in (441.0, 447.0)]
    f = write_cary_csv(tmp_path / "abs.csv", SpectrumSeries.from_spectra(spectra, time_min=[0, 10]))
    code, d, _ = run(capsys, "spectra", "series", str(f), "--kind", "absorbance", "--json")
    assert code == 0 and d["kind"] == "absorbance"
    assert [round(r["exciton_wavelength_nm"]) for r in d["table"]] == [441, 447]
    code, _, err = run(capsys, "spectra", "series", str(f), "--plot", str(tmp_path / "x.gif"), "--json")
    assert code == 2 and "--plot" in err


def test_stokes_command_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = synth_absorbance(447.0, fwhm_mev=60.0, noise=0.002)
    p, _ = synth_pl([(455.0, 60.0, 1.0)], noise=0.002)
    fa, fp = write_jcamp(tmp_path / "abs.jdx", a), write_ocean_optics(tmp_path / "pl.txt", p)
    code, d, _ = run(capsys, "spectra", "stokes", str(fa), str(fp), "--json")
    assert code == 0 and d["shift_mev"] == pytest.approx(48.8, abs=1.0)


def test_series_from_one_multicolumn_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    series, _ = synth_series([1000.0, 1100.0, 1200.0], noise=0.002, n_points=300, apex=True)
    f = write_delimited(tmp_path / "series.tsv", series, delimiter="\t", decimal=",")
    code, d, _ = run(capsys, "spectra", "series", str(f), "--json")
    assert code == 0
    assert [round(r["peak_wavelength_nm"]) for r in d["table"]] == [1000, 1100, 1200]
    assert [r["time_min"] for r in d["table"]] == [0.0, 5.0, 10.0]
    assert d["summary"]["brightness_basis"] == "integrated_pl"
