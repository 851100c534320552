"""`qdlab run`: record + report, idempotent re-run, per-file errors, kill -9 at any stage and re-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qdlab.store import Store
from qdlab.workflow import RunError, run_experiment

QDLAB = [sys.executable, "-m", "qdlab.cli.main"]


def _run(folder: Path, db: str, **kw):
    return run_experiment(folder, db=db, scheduler="serial", quiet=True, **kw)


def test_run_stores_and_reports(folder: Path, tmp_path: Path, truth: dict) -> None:
    peaks_nm, sigma_ev = truth["peaks_nm"], truth["sigma_ev"]
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    res = _run(folder, db)
    s = res.summary
    assert s["record"]["action"] == "created"
    assert [r["aliquot"] for r in s["aliquots"]] == ["A0", "A1"]
    assert [f["source_name"] for f in s["files"]] == ["pl/A0.csv", "pl/A1.csv"]
    assert res.report_html.exists() and res.report_html.name == "index.html"
    html = res.report_html.read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    assert json.loads(res.summary_json.read_text())["experiment"]["id"] == "small"
    for row, peak in zip(s["aliquots"], peaks_nm, strict=True):
        assert row["pl_status"] == "ok"
        assert row["pl_peak_nm"] == pytest.approx(peak, abs=8)  # Gaussian in energy: nm peak shifts slightly
        assert row["fwhm_mev"] == pytest.approx(1000 * 2.3548200450309493 * sigma_ev, rel=0.03)
    assert s["table2"]["initial"]["wavelength_nm"] == pytest.approx(peaks_nm[0], abs=8)
    figs = res.report_html.parent / "figures"  # every figure as its own file: 300-dpi PNG + SVG + CSV
    assert 'src="figures/pl-waterfall.png"' in html and (figs / "pl-waterfall.svg").exists()
    assert (figs / "pl-waterfall.csv").read_text().startswith("aliquot,wavelength_nm,energy_ev,")
    assert s["refused"] == [] and s["counts"]["analyses_refused"] == 0
    with Store(db) as st:
        d = st.experiment_dict("small")
        assert [a["time_min"] for a in d["aliquots"]] == [0.0, 10.0]
        assert {m["sha256"] for m in d["measurements"]} == {f["sha256"] for f in s["files"]}


def test_rerun_is_idempotent_and_change_replaces(folder: Path, tmp_path: Path, make_folder) -> None:
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    first = _run(folder, db).summary["record"]
    with Store(db) as st:
        counts = st.counts()
    again = _run(folder, db).summary["record"]
    assert again == {**first, "action": "unchanged"}
    make_folder(folder, (1010.0, 1150.0))  # a file changed: same experiment, new content
    changed = _run(folder, db).summary["record"]
    assert (changed["experiment_id"], changed["action"]) == (first["experiment_id"], "replaced")
    with Store(db) as st:
        assert st.counts() == counts


def test_per_file_errors_are_collected_and_nothing_is_stored(folder: Path, tmp_path: Path) -> None:
    (folder / "pl" / "A0.csv").write_text("this is not a spectrum\n")
    (folder / "pl" / "A1.csv").write_bytes(b"\x00\x01\x02")
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    with pytest.raises(RunError) as exc:
        _run(folder, db)
    assert [name for name, _ in exc.value.errors] == ["pl/A0.csv", "pl/A1.csv"]
    assert "nothing was stored" in str(exc.value)
    with Store(db) as st:
        assert st.counts()["experiments"] == 0


def test_keep_going_stores_and_reports_each_refused_file(folder: Path, tmp_path: Path, truth: dict) -> None:
    (folder / "pl" / "A0.csv").write_bytes(b"\x00\x01\x02")
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    res = _run(folder, db, keep_going=True)
    s = res.summary
    assert s["record"]["action"] == "created"
    assert len(s["refused"]) == 1 and s["refused"][0].startswith("pl/A0.csv: ")
    assert s["counts"] == {**s["counts"], "analyses_ok": 1, "analyses_refused": 1}
    assert [r["pl_status"] for r in s["aliquots"]] == ["error", "ok"]
    # each aliquot keeps its own numbers: the refused A0 has none, A1 is not shifted onto A0
    assert s["aliquots"][0]["pl_peak_nm"] is None
    assert s["aliquots"][1]["pl_peak_nm"] == pytest.approx(truth["peaks_nm"][1], abs=8)
    html = res.report_html.read_text()
    assert "Files refused" in html and "pl/A0.csv" in html
    with Store(db) as st:
        d = st.experiment_dict("small")
        assert len(d["measurements"]) == 2  # the refused file is stored with its hash


def _cli(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QDLAB_WORKERS": "1", **(env_extra or {})}
    return subprocess.run(QDLAB + args, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    "stage", ["before_commit", pytest.param("after_commit", marks=pytest.mark.slow),
              pytest.param("after_blobs", marks=pytest.mark.slow)],
)
def test_kill_9_then_rerun_completes(folder: Path, tmp_path: Path, stage: str) -> None:
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    r = _cli(["run", str(folder), "--db", db, "--scheduler", "serial", "--json"], {"QDLAB_KILL_AT": stage})
    assert r.returncode == -9, r.stderr[-2000:]
    with Store(db) as st:
        n = st.counts()["experiments"]
    assert n == (1 if stage == "after_commit" else 0)  # never half an experiment
    assert not (folder / "report" / "index.html").exists()
    res = _run(folder, db)
    assert res.summary["record"]["action"] == ("unchanged" if stage == "after_commit" else "created")
    assert res.report_html.exists()
    with Store(db) as st:
        c = st.counts()
        assert c["experiments"] == 1 and c["aliquots"] == 2 and c["measurements"] == 2


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from qdlab.cli.main import main

    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_run_db_commands(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    out = tmp_path / "out"
    # with a recipe file, which is ingested (a file) but is not a measurement
    shutil.copy(Path(__file__).parents[2] / "examples" / "overgrowth-1010nm" / "recipe.toml", folder / "recipe.toml")
    manifest = folder / "experiment.toml"
    text = manifest.read_text()
    manifest.write_text(text.replace("[recipe]\n", '[recipe]\nfile = "recipe.toml"\n') if "[recipe]\n" in text
                        else text + '\n[recipe]\nfile = "recipe.toml"\n')
    code, stdout, err = _main(["run", str(folder), "--db", db, "--scheduler", "serial", "--out", str(out), "--json"],
                              capsys)
    assert code == 0, err[-2000:]
    s = json.loads(stdout)
    assert Path(s["report"]["html"]) == out / "report" / "index.html"
    lst = json.loads(_main(["db", "list", "--db", db, "--json"], capsys)[1])
    assert [e["key"] for e in lst["experiments"]] == ["small"]
    # one number, one answer: run's measurements are db list's; the recipe is the one file more
    assert lst["experiments"][0]["n_measurements"] == s["counts"]["measurements"] == s["counts"]["files"] - 1
    show = json.loads(_main(["db", "show", "small", "--db", db, "--json"], capsys)[1])
    assert show["id"] == s["record"]["experiment_id"] and len(show["measurements"]) == 2
    eln = tmp_path / "small.eln"
    ex = json.loads(_main(["db", "export", "small", "--format", "eln", "--out", str(eln), "--db", db, "--json"],
                          capsys)[1])
    assert ex["path"] == str(eln) and eln.stat().st_size > 0
    for bad in (["run", str(tmp_path / "missing"), "--db", db], ["db", "show", "999", "--db", db],
                ["db", "export", "small", "--format", "pdf", "--db", db]):
        code, _, err = _main(bad, capsys)
        assert code == 2 and "Traceback" not in err and err.startswith("qdlab: error:")
        assert len(err.strip().splitlines()) == 1


def test_init_then_run_reports_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["init", str(tmp_path / "new"), "--json"], capsys)
    assert code == 0 and json.loads(out)["manifest"].endswith("experiment.toml")
    code, _, err = _main(["run", str(tmp_path / "new"), "--db", f"sqlite:///{tmp_path / 'x.sqlite'}"], capsys)
    assert code == 2
    assert "aliquots[0].pl: file not found: pl/A0.txt" in err and "aliquots[0].absorbance" in err


@pytest.mark.postgres
def test_run_on_postgres_is_idempotent(folder: Path, tmp_path: Path, pg_url: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDLAB_ARRAY_DIR", str(tmp_path / "arrays"))
    first = _run(folder, pg_url).summary["record"]
    assert first["action"] == "created" and first["database"].startswith("postgresql+psycopg://")
    assert _run(folder, pg_url).summary["record"]["action"] == "unchanged"
    with Store(pg_url) as st:
        assert st.counts()["experiments"] == 1 and st.counts()["measurements"] == 2
    assert any((tmp_path / "arrays" / "raw").rglob("*")), "raw files copied into the blob store"


@pytest.mark.slow
def test_dask_scheduler_address(folder: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        res = run_experiment(folder, db=f"sqlite:///{tmp_path / 'lab.sqlite'}", scheduler=cluster.scheduler_address,
                             quiet=True)
    assert res.summary["record"]["action"] == "created"
    assert [r["aliquot"] for r in res.summary["aliquots"]] == ["A0", "A1"]


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [1.5, 3.0, 4.5])
def test_kill_9_at_a_random_moment_never_leaves_half_an_experiment(folder: Path, tmp_path: Path, delay_s: float) -> None:
    import time

    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    env = {**os.environ, "QDLAB_WORKERS": "1"}
    proc = subprocess.Popen([*QDLAB, "run", str(folder), "--db", db, "--scheduler", "serial", "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(delay_s)
    proc.kill()
    proc.wait(timeout=60)
    with Store(db) as st:
        c = st.counts()
    assert c["experiments"] in (0, 1)
    if c["experiments"]:
        assert c["aliquots"] == 2 and c["measurements"] == 2 and c["analysis_results"] >= 2
    res = _run(folder, db)
    assert res.summary["record"]["action"] in ("created", "unchanged")
    with Store(db) as st:
        assert st.counts()["experiments"] == 1 and st.counts()["measurements"] == 2


@pytest.mark.slow
def test_two_runs_at_once_on_one_database(folder: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    env = {**os.environ, "QDLAB_WORKERS": "1"}
    procs = [subprocess.Popen([*QDLAB, "run", str(folder), "--db", db, "--scheduler", "serial", "--json",
                                       "--out", str(tmp_path / f"out{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    actions = sorted(json.loads(out)["record"]["action"] for out, _ in outs)
    assert all(p.returncode == 0 for p in procs), [err[-500:] for _, err in outs]
    assert actions == ["created", "unchanged"]
    with Store(db) as st:
        assert st.counts()["experiments"] == 1 and st.counts()["aliquots"] == 2


def test_dry_run_stores_nothing(folder: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    plan = run_experiment(folder, db=db, dry_run=True, quiet=True).summary
    assert plan["dry_run"] and [a["source_name"] for a in plan["analyses"]] == ["pl/A0.csv", "pl/A1.csv"]
    assert len(plan["fingerprint"]) == 64
    assert not (tmp_path / "lab.sqlite").exists() and not (folder / "report").exists()


def test_series_and_calibration_failures_are_reported_not_fatal(folder: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import qdlab.spectra
    from qdlab import twin as tw
    from qdlab.data.errors import ModelError
    from qdlab.workflow.manifest import parse_manifest
    from qdlab.workflow.pipeline import calibrate_twin

    def does_not_apply(*_a: object, **_k: object) -> None:
        raise ModelError("the series has no common band")

    monkeypatch.setattr(qdlab.spectra, "analyze_series", does_not_apply)
    res = _run(folder, f"sqlite:///{tmp_path / 'lab.sqlite'}")
    assert res.summary["series"] == {**res.summary["series"], "status": "error", "error": "the series has no common band"}
    assert res.summary["record"]["action"] == "created"  # the measurements are stored all the same
    assert "series analysis failed" in res.report_html.read_text()

    def no_fit(*_a: object, **_k: object) -> None:
        raise ModelError("the solver did not converge")

    monkeypatch.setattr(tw, "calibrate", no_fit)
    m = parse_manifest('[experiment]\nid = "x"\n[recipe]\nscenario = "overgrowth-1010nm"\n')
    rows = [{"aliquot": f"A{i}", "time_min": 6.0 * i, "pl_peak_nm": 1010.0 + 10 * i, "fwhm_mev": 150.0} for i in range(3)]
    out = calibrate_twin(m, rows, "serial")
    assert out == {"status": "error", "scenario": "overgrowth-1010nm", "error": "the solver did not converge"}


def test_a_bug_in_an_analysis_surfaces_instead_of_becoming_a_message(folder: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import qdlab.spectra

    def bug(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("a bug, not bad input")

    monkeypatch.setattr(qdlab.spectra, "analyze_series", bug)
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    with pytest.raises(ZeroDivisionError, match="a bug"):
        _run(folder, db)
    with Store(db) as st:
        assert st.counts()["experiments"] == 0  # nothing half-written
