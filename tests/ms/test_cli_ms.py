"""`qdlab ms assign|analyze|size`: JSON contract, rich output, and clean errors for bad input."""

import json

import pytest

from qdlab.cli.main import main
from qdlab.ms.synth import molecular_ion_band, table1_spectrum


def run(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_assign_json_contract(capsys):
    rc, out, _ = run(capsys, "ms", "assign", "--mass", "5623.4", "--mass", "5093.9", "--blocks", "Cd,P,OA",
                     "--tolerance-da", "3", "--weights", "iupac2007", "--json")
    assert rc == 0
    d = json.loads(out)
    assert [p["mass_da"] for p in d["peaks"]] == [5623.4, 5093.9]
    c = d["peaks"][0]["candidates"][0]
    assert {"formula", "counts", "mass_da", "error_da", "score"} <= set(c)
    assert c["formula"] == "Cd32P20(OA)5+" and c["counts"] == {"Cd": 32, "P": 20, "OA": 5}
    assert "Cd22P12(OA)8+" in [x["formula"] for x in d["peaks"][1]["candidates"]]


def test_assign_adducts_charge_and_table(capsys):
    rc, out, _ = run(capsys, "ms", "assign", "--mass", "2834.9", "--adducts", "Na,K", "--charge", "2", "--top", "3")
    assert rc == 0 and "candidates" in out


@pytest.mark.parametrize("args, field", [
    (["--mass", "5623", "--tolerance-da", "abc"], "--tolerance-da"),
    (["--mass", "5623", "--adducts", "Xe"], "adduct"),
    (["--mass", "5623", "--blocks", "Cd,Qq"], "Qq"),
    (["--mass", "5623", "--charge", "5"], "charge"),
    (["--mass", "5623", "--target-ratio", "Cd"], "--target-ratio"),
])
def test_assign_bad_input_exit_2(capsys, args, field):
    rc, out, err = run(capsys, "ms", "assign", *args)
    assert rc == 2 and out == ""
    assert field in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_analyze_flex_folder_with_plot(capsys, tmp_path):
    syn = table1_spectrum(seed=3, mz_range_da=(4950, 5850))
    syn.write(tmp_path / "s" / "1SLin", "flex", ml1=2.0e6, ml2=12.5, ml3=1e-3, dw_ns=1.0)
    png = tmp_path / "a.png"
    rc, out, _ = run(capsys, "ms", "analyze", str(tmp_path / "s"), "--weights", "iupac2007", "--plot", str(png), "--json")
    assert rc == 0 and png.stat().st_size > 1000
    d = json.loads(out)
    best = [p["candidates"][0]["formula"] for p in d["assignment"]["peaks"]]
    assert best == [t["formula"] for t in sorted(syn.truth, key=lambda t: t["average_mz"])]
    rc, out, _ = run(capsys, "ms", "analyze", str(tmp_path / "s"))
    assert rc == 0 and "Cd32P20(OA)5+" in out


def test_size_text_file(capsys, tmp_path):
    syn = molecular_ion_band(seed=1)
    p = syn.write(tmp_path / "band.txt", "text")
    rc, out, _ = run(capsys, "ms", "size", str(p), "--json")
    assert rc == 0
    d = json.loads(out)
    assert [round(m["diameter_nm"], 1) for m in d["modes"]] == [2.8, 4.2]
    assert [m["mass_da"] for m in d["modes"]] == pytest.approx([40_000, 140_000], rel=0.02)
    assert d["assumptions"]["density_g_per_cm3"] == pytest.approx(5.96)


def test_bad_files_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("m/z intensity\n1000 5\n999 4\n")
    for cmd in ("analyze", "size"):
        rc, out, err = run(capsys, "ms", cmd, str(bad), "--json")
        assert rc == 2 and out == "" and "increasing" in err and "Traceback" not in err
    rc, _, err = run(capsys, "ms", "size", str(tmp_path / "missing.txt"))
    assert rc == 2 and "not found" in err


def test_size_flex_folder_linear_mode(capsys, tmp_path):
    """The bimodal band written as a linear-mode flex acquisition (integer counts on a TOF grid)."""
    molecular_ion_band(seed=2).write(tmp_path / "qd" / "1" / "1SLin", "flex", ml1=2.0e6, ml2=12.5, ml3=1e-3, dw_ns=4.0)
    rc, out, _ = run(capsys, "ms", "size", str(tmp_path / "qd"), "--json")
    assert rc == 0
    modes = json.loads(out)["modes"]
    assert [m["mass_da"] for m in modes] == pytest.approx([40_000, 140_000], rel=0.01)
    assert [m["diameter_nm"] for m in modes] == pytest.approx([2.77, 4.21], abs=0.02)


def test_calibration_option_checked(capsys, tmp_path):
    p = molecular_ion_band(seed=1).write(tmp_path / "b.txt", "text")
    rc, _, err = run(capsys, "ms", "size", str(p), "--calibration", "cubicc")
    assert rc == 2 and "--calibration" in err


def test_synth_then_analyze_round_trip(capsys, tmp_path):
    folder = tmp_path / "demo" / "0_A1" / "1" / "1SLin"
    rc, out, _ = run(capsys, "ms", "synth", str(folder), "--seed", "4", "--json")
    assert rc == 0
    truth = json.loads(out)["truth"]
    rc, out, _ = run(capsys, "ms", "analyze", str(tmp_path / "demo"), "--weights", "iupac2007", "--json")
    best = [p["candidates"][0]["formula"] for p in json.loads(out)["assignment"]["peaks"]]
    assert best == [t["formula"] for t in sorted(truth, key=lambda t: t["average_mz"])]
    rc, out, _ = run(capsys, "ms", "synth", str(tmp_path / "b.mzML"), "--kind", "band", "--mode-da", "38000",
                     "--format", "mzml", "--json")
    assert rc == 0
    rc, out, _ = run(capsys, "ms", "size", str(tmp_path / "b.mzML"), "--json")
    assert json.loads(out)["modes"][0]["diameter_nm"] == pytest.approx(2.72, abs=0.02)
    rc, _, err = run(capsys, "ms", "synth", str(tmp_path / "x"), "--kind", "fragments")
    assert rc == 2 and "--formula" in err


def test_peaks_json_table_and_plot(capsys, tmp_path):
    syn = table1_spectrum(seed=3, mz_range_da=(4950, 5850))
    syn.write(tmp_path / "s" / "1SLin", "flex", ml1=2.0e6, ml2=12.5, ml3=1e-3, dw_ns=1.0)
    png = tmp_path / "p.png"
    rc, out, _ = run(capsys, "ms", "peaks", str(tmp_path / "s"), "--plot", str(png), "--json")
    assert rc == 0 and png.stat().st_size > 1000
    d = json.loads(out)
    truth = sorted(t["isotopic_average_mz"] for t in syn.truth)
    assert d["n_peaks"] == 6 and [p["mz_da"] for p in d["peaks"]] == pytest.approx(truth, abs=0.3)
    for p in d["peaks"]:
        assert p["fwhm_left_mz_da"] <= p["mz_da"] <= p["fwhm_right_mz_da"] and p["note"] == ""
    rc, out, _ = run(capsys, "ms", "peaks", str(tmp_path / "s"), "--max-peaks", "2", "--json")
    assert rc == 0 and json.loads(out)["n_peaks"] == 2
    rc, out, _ = run(capsys, "ms", "peaks", str(tmp_path / "s"), "--mz-min", "5500")
    assert rc == 0 and "2 peaks" in out and "5757" in out


@pytest.mark.parametrize("args, field", [(["--max-peaks", "0"], "--max-peaks"), (["--snr", "-1"], "snr")])
def test_peaks_bad_input_exit_2(capsys, tmp_path, args, field):
    table1_spectrum(seed=1).write(tmp_path / "s.txt", "text")
    rc, out, err = run(capsys, "ms", "peaks", str(tmp_path / "s.txt"), *args)
    assert rc == 2 and out == "" and field in err and len(err.strip().splitlines()) == 1
    rc, _, err = run(capsys, "ms", "peaks", str(tmp_path / "missing"))
    assert rc == 2 and "not found" in err
