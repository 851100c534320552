"""CLI: qdlab campaign new/ask/tell/status/list (data-only strategy: no twin needed) and qdlab plan errors."""

from __future__ import annotations

import json

import pytest

from qdlab.cli.main import main


def _json(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out  # exactly one JSON object
    return json.loads(out[0])


def test_campaign_roundtrip(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    assert main(["campaign", "new", "c1", "--target-nm", "1300", "--strategy", "random", "--db", db, "--json"]) == 0
    assert _json(capsys)["created"]["target_nm"] == 1300.0
    assert (tmp_path / "lab.campaigns.sqlite3").exists()  # kept apart from the record's file
    assert main(["campaign", "ask", "c1", "--n", "2", "--db", db, "--json"]) == 0
    sugg = _json(capsys)["suggestions"]
    assert [s["trial"] for s in sugg] == [0, 1]
    r = sugg[0]["recipe"]
    assert r["cluster_solution"]["volume_ml"] == pytest.approx(sugg[0]["params"]["cluster_volume_ml"])
    assert main(["campaign", "tell", "c1", "--trial", "0", "--pl-peak-nm", "1290", "--fwhm-mev", "130", "--plqy", "0.15", "--db", db, "--json"]) == 0
    told = _json(capsys)
    assert told["wavelength_error_nm"] == pytest.approx(10.0)
    # loss = 10/15 + 0.3 * (130 - 120)/100 + 0.5 * (1 - 0.15)
    assert told["loss"] == pytest.approx(10 / 15 + 0.03 + 0.425)
    assert main(["campaign", "status", "c1", "--db", db, "--json"]) == 0
    st = _json(capsys)
    assert st["n_trials"] == 2 and st["n_measured"] == 1 and st["hits_within_tolerance"] == [0]
    assert main(["campaign", "list", "--db", db, "--json"]) == 0
    assert _json(capsys)["campaigns"][0]["name"] == "c1"


@pytest.fixture(scope="module")
def campaign_db(tmp_path_factory) -> str:
    """One campaign 'c2' with trial 0 asked, shared by the error cases (none of them changes it)."""
    db = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'x.campaigns.sqlite3'}"
    assert main(["campaign", "new", "c2", "--target-nm", "1300", "--strategy", "random", "--db", db]) == 0
    assert main(["campaign", "ask", "c2", "--db", db, "--json"]) == 0
    return db


@pytest.mark.parametrize(
    "argv, message",
    [
        (["campaign", "tell", "c2", "--trial", "0", "--pl-peak-nm", "1290", "--plqy", "15"], "fraction"),
        (["campaign", "tell", "c2", "--trial", "7", "--pl-peak-nm", "1290"], "no trial 7"),
        (["campaign", "tell", "c2", "--trial", "0"], "pl-peak-nm"),
        (["campaign", "tell", "c2", "--trial", "0", "--pl-peak-nm", "1290", "--from-run", "1"], "either"),
        (["campaign", "status", "nope"], "no campaign"),
        (["campaign", "new", "c2", "--target-nm", "1300", "--strategy", "random"], "already exists"),
        (["campaign", "new", "bad name", "--target-nm", "1300", "--strategy", "tpe"], "letters"),
        (["campaign", "new", "c3", "--target-nm", "1300", "--strategy", "bo"], "unknown strategy"),
    ],
)
def test_campaign_errors_exit_2(campaign_db, capsys, argv, message):
    assert main([*argv, "--db", campaign_db]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_plan_refuses_too_blue(capsys):
    twin = pytest.importorskip("qdlab.twin")
    if "overgrowth-1010nm" not in twin.list_scenarios():
        pytest.skip("twin scenarios not available")
    assert main(["plan", "--seed-nm", "1010", "--target-nm", "700", "--json"]) == 2
    assert "etching" in capsys.readouterr().err
    assert main(["plan", "--seed-nm", "1010", "--target-nm", "1300", "--material", "InP"]) == 2


def test_plan_refuses_beyond_the_bulk_gap(capsys):
    rc = main(["plan", "--material", "Cd3P2", "--seed-nm", "1010", "--target-nm", "3000", "--json"])
    err = capsys.readouterr().err
    assert rc == 2 and "bulk band gap" in err and len(err.strip().splitlines()) == 1


def test_campaign_tell_failed_from_the_cli(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'f.campaigns.sqlite3'}"
    assert main(["campaign", "new", "cf", "--target-nm", "1300", "--strategy", "random", "--seed", "3", "--db", db, "--json"]) == 0
    assert _json(capsys)["created"]["seed"] == 3
    assert main(["campaign", "ask", "cf", "--n", "2", "--db", db, "--json"]) == 0
    capsys.readouterr()
    for argv, message in (
        (["--trial", "0", "--failed", "melted"], "no-emission, aborted"),
        (["--trial", "0", "--failed", "aborted", "--pl-peak-nm", "1290"], "no measured values"),
        (["--trial", "0", "--note", "hm"], "--note goes with --failed"),
    ):
        assert main(["campaign", "tell", "cf", *argv, "--db", db]) == 2
        err = capsys.readouterr().err
        assert message in err and err.strip().count("\n") == 0
    assert main(["campaign", "tell", "cf", "--trial", "0", "--failed", "no-emission", "--note", "clear", "--db", db, "--json"]) == 0
    assert _json(capsys)["learnt"] is True
    assert main(["campaign", "tell", "cf", "--trial", "1", "--failed", "aborted", "--db", db, "--json"]) == 0
    assert _json(capsys)["learnt"] is False
    assert main(["campaign", "status", "cf", "--db", db, "--json"]) == 0
    st = _json(capsys)
    assert [r["state"] for r in st["trials"]] == ["failed", "failed"] and st["n_failed"] == 2 and st["best"] is None
    assert [r["failure"]["reason"] for r in st["trials"]] == ["no-emission", "aborted"]


def test_plan_is_reproducible(capsys):
    """The uncertainty uses a fixed number of samples, not as many as a time budget allows."""
    argv = ["plan", "--seed-nm", "1010", "--target-nm", "1250", "--json"]
    assert main(argv) == 0
    a = _json(capsys)
    assert main(argv) == 0
    b = _json(capsys)
    a.pop("elapsed_s"), b.pop("elapsed_s")
    assert a == b and a["predicted"]["samples"] > 0
