import json

import pytest

from qdlab.cli.main import main


def run(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_size_from_wavelength(capsys):
    rc, out, _ = run(capsys, "size", "--material", "Cd3P2", "--wavelength-nm", "1010", "--json")
    d = json.loads(out)
    assert rc == 0
    assert d["diameter_nm"] == pytest.approx(2.8, abs=0.01)
    assert d["wavelength_nm"] == pytest.approx(1010)
    assert d["energy_ev"] > d["emission_energy_ev"]


def test_size_from_diameter_and_mass(capsys):
    _, out, _ = run(capsys, "size", "--diameter-nm", "4.2", "--json")
    d = json.loads(out)
    assert d["wavelength_nm"] == pytest.approx(1277, abs=1) and d["mass_da"] > 1e5
    _, out, _ = run(capsys, "size", "--mass-da", "140000", "--density", "handbook", "--json")
    assert json.loads(out)["diameter_nm"] == pytest.approx(4.21, abs=0.01)


def test_mass_command(capsys):
    rc, out, _ = run(capsys, "mass", "Cd32P20(C17H33CO2)5", "--weights", "iupac2007", "--json")
    d = json.loads(out)
    assert rc == 0 and d["average_da"] == pytest.approx(5623.9, abs=0.05)
    assert 20 < d["envelope_fwhm_da"] < 30


@pytest.mark.parametrize(
    "args",
    [
        ["size", "--material", "Cd3P2", "--wavelength-nm", "-1"],
        ["size", "--material", "Foo", "--wavelength-nm", "1000"],
        ["size", "--wavelength-nm", "abc"],
        ["size", "--diameter-nm", "4", "--mass-da", "1000"],
        ["size", "--diameter-nm", "1e6"],
        ["mass", "Cd32P20((("],
        ["mass", "Cd3P2", "--weights", "iupac1066"],
        ["recipe", "check", "no-such-recipe"],
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args):
    rc, out, err = run(capsys, *args, "--json")
    assert rc == 2
    assert out == ""
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("qdlab: error:")


def test_recipe_check_json(capsys, tmp_path):
    rc, out, _ = run(capsys, "recipe", "check", "hot-injection-1010nm", "--json")
    assert rc == 0 and json.loads(out)["cd_to_p"] == pytest.approx(3.0, abs=0.01)
    bad = tmp_path / "r.toml"
    bad.write_text('[recipe]\nname="x"\n[[components]]\nreagent="CdO"\namount="lots"\n')
    rc, out, err = run(capsys, "recipe", "check", str(bad), "--json")
    assert rc == 2 and "components[0].amount" in err


def test_version(capsys):
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out.startswith("qdlab ")
