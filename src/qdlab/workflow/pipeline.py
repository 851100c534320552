"""``qdlab run``: experiment folder -> record -> report.

Stages (each with a rich progress bar on stderr):

1. **manifest** — :func:`qdlab.workflow.manifest.load_manifest` validates ``experiment.toml`` and checks
   that every file exists (nothing is stored if it fails);
2. **ingest** — size and sha256 of every raw file (folders such as Bruker flex acquisitions hashed over
   their file tree);
3. **analyse** — one :class:`~qdlab.workflow.tasks.Task` per measurement through
   :func:`qdlab.compute.map_progress` (local processes, or Dask when given a scheduler address);
   per-file errors are collected and, if any, reported together (exit 2) before anything is stored;
4. **series + calibration** — the PL series (``qdlab.spectra.analyze_series``) and the twin calibrated to it
   (``qdlab.twin.calibrate``);
5. **store** — one transaction (:meth:`qdlab.store.Store.save_experiment`): created, replaced or unchanged;
6. **report** — ``report/index.html`` and ``report/summary.json`` (written to temporary names, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdlab.data.errors import InputError, QdlabError
from qdlab.workflow.manifest import Manifest, load_manifest
from qdlab.workflow.tasks import DOMAINS, Outcome, Task, run_task


class RunError(InputError):
    """Some files could not be analysed; ``errors`` lists ``(file, message)``. Nothing was stored."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        listing = "; ".join(msg if msg.startswith(name) else f"{name}: {msg}" for name, msg in self.errors)
        super().__init__(f"{len(self.errors)} file(s) failed, nothing was stored: {listing}")


@dataclass(frozen=True)
class IngestedFile:
    """A raw file referenced by the manifest, with its hash."""

    field: str
    source_name: str
    path: Path
    kind: str
    size_bytes: int
    sha256: str
    aliquot: str | None = None
    role: str | None = None
    files: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RunResult:
    """What ``qdlab run`` did; :meth:`to_dict` is the ``--json`` output and ``summary.json``."""

    summary: dict[str, Any]
    report_html: Path | None
    summary_json: Path | None

    def to_dict(self) -> dict[str, Any]:
        return self.summary


def _kind_of(field_name: str) -> str:
    head = field_name.split("[", 1)[0].split(".", 1)[0]
    if head == "aliquots":
        return field_name.split(".", 1)[1].split(".", 1)[0]
    return {"recipe": "recipe"}.get(head, head)


def ingest(manifest: Manifest, root: Path) -> list[IngestedFile]:
    """Hash every file the manifest references (``plqy`` scans keep their role: blank, sample, a, b, c)."""
    from qdlab.data.hashing import file_sha256
    from qdlab.store.record import tree_digest

    out: list[IngestedFile] = []
    seen: set[tuple[str, str]] = set()
    for fld, rel, aliquot, role in manifest.files():
        kind = _kind_of(fld)
        p = root / rel
        if (kind, rel) in seen:  # e.g. one blank scan shared by all aliquots
            continue
        seen.add((kind, rel))
        # a sphere blank (or empty-sphere scan) may be shared by several aliquots: it belongs to none
        owner = None if kind == "plqy" and role in ("blank", "a") else aliquot
        if p.is_dir():
            digest, size, per_file = tree_digest(p)
            out.append(IngestedFile(fld, rel, p, kind, size, digest, owner, role, per_file))
        else:
            out.append(IngestedFile(fld, rel, p, kind, p.stat().st_size, file_sha256(p), owner, role))
    return out


def build_tasks(manifest: Manifest, root: Path) -> list[Task]:
    """One task per analysable measurement, in manifest order."""
    mat = manifest.experiment.material
    tasks: list[Task] = []
    for a in manifest.aliquots:
        if a.pl:
            tasks.append(Task("pl", a.pl, str(root / a.pl), a.id, None, mat))
        if a.absorbance:
            tasks.append(Task("absorbance", a.absorbance, str(root / a.absorbance), a.id, None, mat))
        if a.plqy:
            files = {role: str(root / rel) for role, rel in a.plqy.files().items()}
            main = a.plqy.sample if a.plqy.method == "two_step" else a.plqy.c
            tasks.append(Task("plqy", str(main), str(root / str(main)), a.id, "sample", mat,
                              {"method": a.plqy.method, "excitation_nm": a.plqy.excitation_nm,
                               "excitation_halfwidth_nm": a.plqy.excitation_halfwidth_nm,
                               "emission_window_nm": list(a.plqy.emission_window_nm)}, files))
    for kind in ("ms", "tem", "xrd"):
        for f in getattr(manifest, kind):
            opts = {"mode": f.mode} if f.mode else {}
            tasks.append(Task(kind, f.path, str(root / f.path), None, f.role, mat, opts))
    return tasks


def fingerprint(manifest_sha256: str, files: Sequence[IngestedFile], extra: Mapping[str, Any]) -> str:
    """sha256 over the manifest, every file's hash, the qdlab version and which domains ran."""
    from qdlab import __version__

    doc = {
        "manifest": manifest_sha256,
        "files": sorted((f.kind, f.source_name, f.sha256) for f in files),
        "qdlab": __version__,
        **extra,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


# ---- series-level analysis ----------------------------------------------------------------------
def _qy_by_aliquot(manifest: Manifest, outcomes: Sequence[Outcome]) -> dict[str, float]:
    """PLQY (fraction) per aliquot: from sphere scans if analysed, else ``qy_percent`` of the manifest."""
    qy: dict[str, float] = {}
    for a in manifest.aliquots:
        if a.qy_percent is not None:
            qy[a.id] = a.qy_percent / 100.0
    for o in outcomes:
        if o.task.kind == "plqy" and o.status == "ok" and o.task.aliquot:
            v = o.result.get("plqy", o.result.get("qy", o.result.get("value")))
            if isinstance(v, (int, float)):
                qy[o.task.aliquot] = float(v)
    return qy


def analyse_series(manifest: Manifest, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The aliquot series (Table 2 style) from the PL outcomes via ``qdlab.spectra.analyze_series``."""
    import numpy as np

    from qdlab.data.types import SpectrumSeries

    times = {a.id: a.time_min for a in manifest.aliquots}
    pl = [o for o in outcomes if o.task.kind == "pl" and o.status == "ok" and o.payload]
    qy = _qy_by_aliquot(manifest, outcomes)
    out: dict[str, Any] = {"status": "skipped", "qy_by_aliquot": qy}
    if not pl:
        out["error"] = "no analysed PL spectra in the manifest"
        return out
    from qdlab.spectra import analyze_series

    spectra = [o.payload["spectrum"] for o in pl]
    ids = [o.task.aliquot or f"A{i}" for i, o in enumerate(pl)]
    series = SpectrumSeries.from_spectra(spectra, [times.get(i, np.nan) for i in ids], ids,
                                         {"experiment": manifest.experiment.id})
    qy_arr = np.array([qy.get(i, np.nan) for i in ids]) if qy else None
    try:
        res = analyze_series(series, qy=qy_arr)
    except QdlabError as exc:  # a series analysis that does not apply is reported; the per-file results are stored
        out.update(status="error", error=str(exc))
        return out
    d = res.to_dict() if hasattr(res, "to_dict") else dict(res)
    out.update(status="ok", result=d, series=series, series_result=res)
    return out


def _short_runs(scheduler: Any) -> Any:
    """Where the stages of many short twin runs go: threads of this process unless a Dask/serial one is given
    (the twin's kernel releases the GIL; a process pool would cost more to start than the runs take)."""
    return scheduler if scheduler not in (None, "local") else "threads"


def calibrate_twin(manifest: Manifest, rows: Sequence[Mapping[str, Any]], scheduler: Any) -> dict[str, Any]:
    """Fit the twin scenario named in the manifest to the measured PL series (``qdlab.twin.calibrate``).

    ``rows`` are the aliquot rows (time, PL peak, FWHM). The calibrated scenario is then simulated at the
    measured aliquot times for the report's twin-vs-measured figure.
    """

    scenario = manifest.recipe.scenario
    if not scenario:
        return {"status": "skipped", "scenario": None, "error": "no [recipe] scenario in the manifest"}
    from qdlab import twin as tw

    measured = [
        {"aliquot_id": r["aliquot"], "time_min": r["time_min"], "pl_peak_nm": r["pl_peak_nm"],
         **({"fwhm_mev": r["fwhm_mev"]} if r.get("fwhm_mev") is not None else {})}
        for r in rows if r.get("pl_peak_nm") is not None
    ]
    if len(measured) < 3:
        return {"status": "skipped", "scenario": scenario,
                "error": f"{len(measured)} analysed PL spectra; the calibration needs at least 3"}
    try:
        from qdlab.compute import mapper

        res = tw.calibrate(scenario, measured, map_fn=mapper(_short_runs(scheduler), "calibrating (multi-start)"))
        d = res.to_dict()
        # predict the same aliquots (same times and withdrawals: a denser grid would withdraw more volume
        # and change the run it is meant to show)
        sc = tw.load_scenario(scenario)
        sim = tw.simulate(sc.with_overrides({**res.values,
                                             "protocol.aliquot_times_min": [r["time_min"] for r in measured],
                                             "protocol.aliquot_ids": [r["aliquot_id"] for r in measured]}))
        d["predicted_time_min"] = [a.time_min for a in sim.aliquots]
        d["predicted_pl_peak_nm"] = [a.pl_peak_nm for a in sim.aliquots]
        d["predicted_mean_diameter_nm"] = [a.mean_diameter_nm for a in sim.aliquots]
    except QdlabError as exc:  # reported in the report and the record; the measurements are still stored
        return {"status": "error", "scenario": scenario, "error": str(exc)}
    params = {n: {"value": res.values[n], "stderr": res.std.get(n), "unit": "1 (scale factor)"} for n in res.names}
    return {"status": "ok", "scenario": scenario, "result": d, "parameters": params}


def next_experiment(manifest: Manifest, calib: Mapping[str, Any], scheduler: Any) -> dict[str, Any]:
    """The next recipe to the manifest's ``[target]``, planned on the twin calibrated to this run.

    :func:`qdlab.plan.nextrun.plan_next_experiment`: never raises for a planning failure (its message
    is returned as ``{"status": "error", "error": ...}``).
    """
    from qdlab.plan.nextrun import plan_next_experiment

    assert manifest.target is not None
    return plan_next_experiment(manifest.target.model_dump(), calib, manifest.experiment.id,
                                scheduler=_short_runs(scheduler))


# ---- the run --------------------------------------------------------------------------------------
def _stage(name: str, quiet: bool) -> Any:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from qdlab.console import err_console

    con = err_console()
    return Progress(SpinnerColumn(), TextColumn(f"[bold]{name}[/]"), TimeElapsedColumn(), console=con,
                    disable=quiet or not con.is_terminal, transient=False)


def _preload_domains(tasks: Sequence[Task]) -> None:
    """Import the analysis domains the tasks need before the local worker processes fork from this one.

    The workers then inherit the modules instead of importing them each (scipy, matplotlib, pymatgen:
    ~2 s per process); this process needs them anyway for the series, the calibration and the report.
    """
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    # the analyses draw their figures with pyplot
    import matplotlib.pyplot

    for kind in sorted({t.kind for t in tasks}):
        importlib.import_module(f"qdlab.{DOMAINS[kind]}")


def run_experiment(
    folder: str | os.PathLike[str],
    *,
    db: str | None = None,
    scheduler: Any = None,
    out: str | os.PathLike[str] | None = None,
    store: Any = None,
    quiet: bool = False,
    dry_run: bool = False,
    keep_going: bool = False,
) -> RunResult:
    """Run the whole job on an experiment folder (see module docstring).

    Parameters
    ----------
    folder
        Folder with ``experiment.toml``.
    db
        Database URL (default: ``QDLAB_DATABASE_URL`` or the user's SQLite file).
    scheduler
        ``None``/``"local"`` (processes), ``"serial"``, or a Dask scheduler address.
    out
        Where ``report/`` goes (default: the experiment folder).
    store
        An open :class:`qdlab.store.Store` to use instead of ``db``.
    quiet
        No progress bars.
    dry_run
        Only validate the manifest, hash the files and list the planned analyses; store and write nothing.
    keep_going
        Store and report the experiment even when some files are refused or some analyses do not apply:
        each such file is listed with its reason (``summary["refused"]``, the report's notices). By default
        any refused file stops the run and nothing is stored (:class:`RunError`).
    """
    from qdlab import __version__
    from qdlab.compute import map_progress
    from qdlab.store import Store
    from qdlab.store.record import kill_point

    t0 = time.perf_counter()
    manifest, root, manifest_sha = load_manifest(folder)
    with _stage("ingest: hashing raw files", quiet) as prog:
        prog.add_task("ingest", total=None)
        files = ingest(manifest, root)
    tasks = build_tasks(manifest, root)
    if dry_run:
        plan = {
            "dry_run": True,
            "experiment": {"id": manifest.experiment.id, "material": manifest.experiment.material, "folder": str(root)},
            "files": [{"source_name": f.source_name, "kind": f.kind, "role": f.role, "aliquot": f.aliquot,
                       "size_bytes": f.size_bytes, "sha256": f.sha256} for f in files],
            "analyses": [{"kind": t.kind, "source_name": t.source_name, "aliquot": t.aliquot, "role": t.role,
                          "domain": f"qdlab.{DOMAINS[t.kind]}"} for t in tasks],
            "twin_scenario": manifest.recipe.scenario,
            "fingerprint": fingerprint(manifest_sha, files, {}),
        }
        return RunResult(plan, None, None)
    own_store = store is None
    st = Store(db) if own_store else store  # open (and migrate) first: a bad --db fails before the analyses
    fp = fingerprint(manifest_sha, files, {})
    out_dir = Path(out) if out is not None else root
    try:
        # fast no-op: same manifest, files and qdlab as the stored record, and its report still on disk
        prior = st.unchanged_report(manifest.experiment.id, fp, out_dir / "report")
        if prior is not None and (keep_going or not prior["summary"].get("refused")):
            summary = {**prior["summary"], "elapsed_s": round(time.perf_counter() - t0, 3)}
            summary["record"] = {**summary["record"], "action": "unchanged", "database": st.display_url}
            return RunResult(summary, prior["html"], prior["summary_json"])
        from concurrent.futures.process import BrokenProcessPool

        if (scheduler or "local") == "local" and tasks:
            _preload_domains(tasks)
        try:
            outcomes: list[Outcome] = map_progress(
                run_task, tasks, scheduler=scheduler or "local", description="analyse: measurements",
                show=False if quiet else None,
            ) if tasks else []
        except BrokenProcessPool as exc:
            raise InputError("a worker process died during the analyses (out of memory?); nothing was stored. "
                             "Re-run with --scheduler serial to see which file causes it") from exc
        errors = [(o.task.source_name, o.error or "failed") for o in outcomes if o.status == "error"]
        if errors and not keep_going:
            raise RunError(errors)
        with _stage("series + twin calibration", quiet) as prog:
            prog.add_task("series", total=None)
            series_out = analyse_series(manifest, outcomes)
            from qdlab.workflow.record import aliquot_rows

            calib = calibrate_twin(manifest, aliquot_rows(manifest, outcomes, series_out), scheduler)
        from qdlab.workflow.record import build_record, summary_dict

        summary = summary_dict(manifest, root, files, outcomes, series_out, calib)
        if manifest.target is not None:  # close the loop: the next recipe on the twin just calibrated
            with _stage("next experiment: planning on the calibrated twin", quiet) as prog:
                prog.add_task("plan", total=None)
                summary["next_recipe"] = next_experiment(manifest, calib, scheduler)
        record = build_record(manifest, root, manifest_sha, fp, files, outcomes, series_out, calib, summary)
        with _stage("store: writing the record", quiet) as prog:
            prog.add_task("store", total=None)
            saved = st.save_experiment(record)
        kill_point("after_commit")
        summary["record"] = {"experiment_id": saved.experiment_id, "action": saved.action, "database": st.display_url,
                             "fingerprint": fp}
    finally:
        if own_store:
            st.close()
    from qdlab.report import write_report

    with _stage("report: writing HTML", quiet) as prog:
        prog.add_task("report", total=None)
        summary["elapsed_s"] = round(time.perf_counter() - t0, 3)
        summary["qdlab_version"] = __version__
        html, js = write_report(out_dir / "report", summary, outcomes, series_out, calib)
    summary["report"] = {"html": str(html), "summary_json": str(js)}
    return RunResult(summary, html, js)


__all__ = ["RunError", "RunResult", "IngestedFile", "ingest", "build_tasks", "fingerprint", "run_experiment",
           "analyse_series", "calibrate_twin", "next_experiment"]
