"""Close the loop (issue 20): a [target] in experiment.toml -> the next recipe on the twin calibrated to the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qdlab.data.errors import FormatError
from qdlab.workflow.manifest import parse_manifest

SCENARIO = "overgrowth-1010nm"
HEAD = '[experiment]\nid = "x"\n'


# ---- the manifest's [target] -------------------------------------------------------------------------
def test_target_table_is_parsed_and_optional() -> None:
    assert parse_manifest(HEAD).target is None
    m = parse_manifest(HEAD + '[target]\nwavelength_nm = 1300\nmax_fwhm_mev = 150\nmin_qy_percent = 10\n'
                              'campaign = "c-1"\ntrial = 3\n')
    assert (m.target.wavelength_nm, m.target.max_fwhm_mev, m.target.min_qy_percent) == (1300.0, 150.0, 10.0)
    assert (m.target.campaign, m.target.trial) == ("c-1", 3)


@pytest.mark.parametrize(("body", "field", "words"), [
    ("max_fwhm_mev = 100\n", "target.wavelength_nm", "required key is missing"),
    ("wavelength_nm = 300\n", "target.wavelength_nm", "greater than 700"),
    ("wavelength_nm = 1300\nmin_qy_percent = 120\n", "target.min_qy_percent", "less than or equal to 100"),
    ("wavelength_nm = 1300\nwavelength = 1200\n", "target.wavelength", "unknown key"),
    ("wavelength_nm = 1300\ntrial = 2\n", "target", "give campaign"),
    ("wavelength_nm = 1300\ncampaign = \"a b\"\n", "target.campaign", "pattern"),
])
def test_bad_target_names_the_field(body: str, field: str, words: str) -> None:
    with pytest.raises(FormatError) as err:
        parse_manifest(HEAD + "[target]\n" + body, "exp/experiment.toml")
    msg = str(err.value)
    assert "exp/experiment.toml" in msg and f"{field}:" in msg and words in msg, msg


# ---- the planning step, on a calibration ------------------------------------------------------------------
def _calibration(values: dict[str, float], rel_std: float = 0.02) -> dict:
    cov = np.diag([(rel_std * v) ** 2 for v in values.values()]).tolist()
    return {"status": "ok", "scenario": SCENARIO, "result": {"values": values, "covariance": cov}}


def _rerun_peak_nm(scenario: dict) -> float:
    """The proposed scenario re-run independently through the twin's public API (from its JSON form)."""
    from qdlab import twin

    sc = json.loads(json.dumps(scenario))
    return float(twin.simulate(twin.load_scenario(sc["name"]).with_overrides(sc["overrides"])).aliquots[-1].pl_peak_nm)


def test_next_recipe_prediction_is_the_twins(tmp_path: Path) -> None:
    from qdlab.plan.nextrun import plan_next_experiment

    # calibrated values away from the shipped ones: the plan must use them (a different feed volume)
    cal = _calibration({"seeds.surface.etch_factor": 2.0, "seeds.surface.reactivity_factor": 1.3})
    nr = plan_next_experiment({"wavelength_nm": 1300.0, "max_fwhm_mev": None}, cal, "exp-1")
    assert nr["status"] == "ok", nr
    assert nr["scenario"]["overrides"]["seeds.surface.reactivity_factor"] == 1.3
    assert _rerun_peak_nm(nr["scenario"]) == pytest.approx(nr["predicted"]["pl_peak_nm"], abs=1e-6)
    assert abs(nr["predicted"]["pl_peak_nm"] - 1300.0) <= 15.0
    lo, hi = nr["predicted"]["pl_peak_nm_interval_68"]
    assert (lo <= 1300.0 <= hi) == nr["target_in_interval"]
    assert nr["target_in_interval"] or nr["reason"]
    assert nr["predicted"]["samples"] == 12 and nr["planned_on"]["uncertainty_from"] == "calibration covariance"
    assert nr["twin_runs"] <= 12 + 15 + 200
    assert nr["reachable_nm"][0] < 1300.0 < nr["reachable_nm"][1]
    assert nr["commands"]["new"].startswith("qdlab campaign new exp-1-to-1300nm --target-nm 1300 --seed-nm 1010")
    assert nr["commands"]["ask"] == "qdlab campaign ask exp-1-to-1300nm" and "tell" not in nr["commands"]
    # another calibration moves the recipe: it is planned on this run's twin, not the shipped one
    other = plan_next_experiment({"wavelength_nm": 1300.0}, _calibration(
        {"seeds.surface.etch_factor": 2.0, "seeds.surface.reactivity_factor": 0.8}), "exp-1", n_samples=0)
    assert other["params"]["cluster_volume_ml"] != pytest.approx(nr["params"]["cluster_volume_ml"], rel=1e-3)


def test_planning_failures_are_messages_not_exceptions() -> None:
    from qdlab.plan.nextrun import plan_next_experiment

    cal = _calibration({"seeds.surface.etch_factor": 2.58, "seeds.surface.reactivity_factor": 1.1})
    far = plan_next_experiment({"wavelength_nm": 2900.0}, cal, "e")
    assert far["status"] == "error" and "beyond what any Cd3P2 QD can emit" in far["error"]
    blue = plan_next_experiment({"wavelength_nm": 800.0}, cal, "e")
    assert blue["status"] == "error" and "etching" in blue["error"]
    none = plan_next_experiment({"wavelength_nm": 1300.0}, {"status": "error", "error": "fit diverged"}, "e")
    assert none["status"] == "skipped" and "fit diverged" in none["error"]


# ---- qdlab run end to end --------------------------------------------------------------------------------
def _twin_folder(root: Path, target: str) -> Path:
    """A folder whose PL spectra are the twin's own (every other aliquot of the reference run)."""
    from qdlab import twin

    sim = twin.simulate(twin.load_scenario(SCENARIO))
    (root / "pl").mkdir(parents=True)
    toml = f'[experiment]\nid = "loop"\nsynthetic = true\n\n[recipe]\nscenario = "{SCENARIO}"\n\n{target}'
    for a, s in list(zip(sim.aliquots, sim.pl, strict=True))[::2]:
        win = (s.x > 850) & (s.x < 1700)
        np.savetxt(root / "pl" / f"{a.aliquot_id}.csv", np.c_[s.x[win], 1e3 * s.y[win]], delimiter=",",
                   header="wavelength_nm,intensity", comments="", fmt="%.6f")
        toml += f'\n[[aliquots]]\nid = "{a.aliquot_id}"\ntime_min = {a.time_min}\npl = "pl/{a.aliquot_id}.csv"\n'
    (root / "experiment.toml").write_text(toml)
    return root


@pytest.mark.slow
def test_run_with_a_target_ends_with_the_next_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from qdlab.web import create_app
    from qdlab.workflow import run_experiment

    root = _twin_folder(tmp_path / "exp", '[target]\nwavelength_nm = 1350\ncampaign = "c1"\ntrial = 0\n')
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    res = run_experiment(root, db=db, scheduler="serial", quiet=True)
    assert res.summary["twin"]["status"] == "ok"
    on_disk = json.loads(Path(res.summary_json).read_text())
    nr = on_disk["next_recipe"]
    assert nr["status"] == "ok", nr
    # planned on the calibrated twin: its fitted values are in the proposed scenario
    for k, v in res.summary["twin"]["result"]["values"].items():
        assert nr["scenario"]["overrides"][k] == pytest.approx(v)
    assert _rerun_peak_nm(nr["scenario"]) == pytest.approx(nr["predicted"]["pl_peak_nm"], abs=1e-6)
    lo, hi = nr["predicted"]["pl_peak_nm_interval_68"]
    assert (lo <= 1350.0 <= hi) or nr["reason"]
    assert nr["commands"]["tell"] == "qdlab campaign tell c1 --trial 0 --from-run loop"
    html = Path(res.report_html).read_text()
    vol = f"{nr['recipe']['cluster_solution']['volume_ml']:.2f} mL"
    assert 'id="next-experiment"' in html and vol in html and nr["commands"]["tell"] in html
    client = TestClient(create_app(db))
    page = client.get("/experiments/loop")
    assert page.status_code == 200 and 'id="next-experiment"' in page.text and nr["commands"]["ask"] in page.text
    assert f"{nr['recipe']['cluster_solution']['volume_ml']:.3g} mL" in page.text
    served = client.get("/experiments/loop/report.html")  # the report rebuilt from the record
    assert served.status_code == 200 and 'id="next-experiment"' in served.text
    from qdlab.cli.run import _print_next_recipe  # what `qdlab run` prints at the end, in the terminal

    capsys.readouterr()
    _print_next_recipe(nr)
    out = capsys.readouterr().out
    assert "next experiment to 1350 nm" in out and nr["commands"]["tell"] in out
    assert f"feed {nr['recipe']['cluster_solution']['volume_ml']:.3g} mL" in out
    assert f"predicted final PL {nr['predicted']['pl_peak_nm']:.0f} nm (68 %: {lo:.0f}-{hi:.0f} nm)" in out


def test_no_target_changes_nothing_and_a_skipped_plan_is_not_fatal(folder: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from qdlab.workflow import run_experiment

    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    plain = run_experiment(folder, db=db, scheduler="serial", quiet=True)
    assert "next_recipe" not in plain.summary
    assert "next-experiment" not in Path(plain.report_html).read_text()
    # a target without a twin scenario: the run is stored, the next recipe says why there is none
    toml = folder / "experiment.toml"
    toml.write_text(toml.read_text() + '\n[target]\nwavelength_nm = 1300\n')
    res = run_experiment(folder, db=db, scheduler="serial", quiet=True)
    assert res.summary["record"]["action"] in ("replaced", "updated", "stored")
    nr = json.loads(Path(res.summary_json).read_text())["next_recipe"]
    assert nr["status"] == "skipped" and "no [recipe] scenario" in nr["error"]
    assert "No recipe planned" in Path(res.report_html).read_text()
    from qdlab.cli.main import main

    assert main(["run", str(folder), "--db", db]) == 0  # the terminal says it too, at the end
    assert "next experiment (1300 nm): skipped: no twin calibrated" in capsys.readouterr().out
