import json

import pytest

from qdlab.cli.main import main


def run(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_simulate_json(capsys):
    rc, out, _ = run(capsys, "xrd", "simulate", "--diameter-nm", "3", "--two-theta-min", "20", "--two-theta-max", "60", "--json")
    d = json.loads(out)
    assert rc == 0 and len(d["two_theta_deg"]) == len(d["intensity"]) == 2001
    assert {"hkl", "two_theta_deg", "d_angstrom", "relative_intensity"} <= set(d["peaks"][0])


def test_reference_json(capsys):
    rc, out, _ = run(capsys, "xrd", "reference", "--wavelength-angstrom", "0.7093", "--json")
    d = json.loads(out)
    assert rc == 0 and d["wavelength_angstrom"] == 0.7093 and len(d["peaks"]) > 50


def test_synth_then_match(capsys, tmp_path):
    f = tmp_path / "qd.xrdml"
    rc, out, _ = run(capsys, "xrd", "synth", str(f), "--diameter-nm", "4.4", "--seed", "3", "--json")
    assert rc == 0 and json.loads(out)["truth"]["diameter_nm"] == 4.4
    png = tmp_path / "m.png"
    rc, out, _ = run(capsys, "xrd", "match", str(f), "--sigma-rel", "0.08", "--plot", str(png), "--json")
    d = json.loads(out)
    assert rc == 0 and d["best_phase"] == "Cd3P2"
    assert d["size_fit"]["diameter_nm"] == pytest.approx(4.4, rel=0.05) and d["size_fit"]["diameter_std_nm"] > 0
    assert png.stat().st_size > 1000


@pytest.mark.parametrize(
    "args",
    [
        ("xrd", "match", "MISSING"),
        ("xrd", "simulate", "--diameter-nm", "-1"),
        ("xrd", "simulate", "--diameter-nm", "3", "--phase", "Au"),
        ("xrd", "reference", "--two-theta-min", "50", "--two-theta-max", "10"),
    ],
)
def test_bad_input_exit_2_one_line(capsys, args):
    rc, out, err = run(capsys, *args)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_damaged_file(capsys, tmp_path):
    f = tmp_path / "bad.xy"
    f.write_text("10 1\n11 2\n12 oops\n")
    rc, _, err = run(capsys, "xrd", "match", str(f), "--json")
    assert rc == 2 and "bad.xy:3" in err
