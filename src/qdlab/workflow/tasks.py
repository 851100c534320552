"""One analysis task per measurement, run in worker processes through :mod:`qdlab.compute`.

Each task reads one raw file with the domain's reader and analyses it with the domain's code
(``qdlab.spectra``, ``qdlab.ms``, ``qdlab.tem``, ``qdlab.xrd``); no science is re-implemented here.
A task returns an :class:`Outcome` whose ``status`` is ``ok`` or ``error`` (the file name and the
domain's message, for a :class:`~qdlab.data.errors.QdlabError`: a file qdlab refuses or an analysis that
does not apply). Any other exception is a bug and propagates. Outcomes carry JSON-able results, the
arrays to keep in the record (Parquet), and the report's figures as PNG bytes (drawn in the worker).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdlab.data.errors import InputError, QdlabError

#: The domain package that analyses each kind of measurement.
DOMAINS: dict[str, str] = {"pl": "spectra", "absorbance": "spectra", "plqy": "spectra", "ms": "ms", "tem": "tem",
                           "xrd": "xrd"}


@dataclass(frozen=True)
class Task:
    """What to analyse: one measurement (for ``plqy``: the aliquot's sphere scans, in ``files``)."""

    kind: str
    source_name: str
    path: str
    aliquot: str | None = None
    role: str | None = None
    material: str = "Cd3P2"
    options: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a task produced."""

    task: Task
    analysis: str
    status: str
    result: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, Any] | None = None
    figures: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    payload: Any = None


def png(draw: Callable[[], Any]) -> bytes:
    """Draw a figure in the report's style (:mod:`qdlab.report.style`) and return it as a 300-dpi PNG (closed)."""
    import warnings

    from qdlab.report import style

    with style.figure_style(), warnings.catch_warnings():
        # an image figure placed with add_axes has no gridspec for the style's constrained layout: nothing to lay out
        warnings.filterwarnings("ignore", message="There are no gridspecs with layoutgrids")
        fig = draw()
        fig = fig[0] if isinstance(fig, tuple) else fig
        try:
            return style.figure_bytes(fig, "png")
        finally:
            style.close(fig)


def _to_dict(obj: Any) -> dict[str, Any]:
    from qdlab.data.types import to_jsonable

    d = obj.to_dict() if hasattr(obj, "to_dict") else to_jsonable(obj)
    return d if isinstance(d, dict) else {"value": d}


def _strip_arrays(d: Any, max_len: int = 64, keep: int = 20) -> Any:
    """Drop long numeric lists (the arrays go to Parquet) and cut long lists of records to ``keep`` items."""
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            if isinstance(v, list) and len(v) > max_len:
                if all(isinstance(x, (int, float, type(None))) or isinstance(x, list) for x in v):
                    continue
                v = v[:keep]
            out[k] = _strip_arrays(v, max_len, keep)
        return out
    if isinstance(d, list):
        return [_strip_arrays(v, max_len, keep) for v in d]
    return d


def _first(series: Any) -> Any:
    return series.spectra[0] if hasattr(series, "spectra") else series


# ---- per-kind analyses ------------------------------------------------------------------------
def _read_as(sp: Any, path: str, kind: str) -> Any:
    """The file's first spectrum as ``kind``; what the file itself said is kept for the kind-mismatch warning."""
    from qdlab.spectra.checks import as_kind

    read = sp.read_spectra(path)
    return as_kind([_first(read)], kind)[0]


def _pl(task: Task, sp: Any) -> Outcome:
    spec = _read_as(sp, task.path, "pl")
    res = sp.analyze_pl(spec)
    return Outcome(
        task, "spectra.analyze_pl", "ok", _strip_arrays(_to_dict(res)),
        arrays={"x": spec.x, "y": spec.y}, parameters={"x_unit": spec.x_unit}, payload={"spectrum": spec},
    )


def _absorbance(task: Task, sp: Any) -> Outcome:
    spec = _read_as(sp, task.path, "absorbance")
    res = sp.analyze_absorbance(spec)
    return Outcome(
        task, "spectra.analyze_absorbance", "ok", _strip_arrays(_to_dict(res)),
        arrays={"x": spec.x, "y": spec.y}, parameters={"x_unit": spec.x_unit}, payload={"spectrum": spec},
    )


def _plqy(task: Task, sp: Any) -> Outcome:
    method = task.options.get("method", "two_step")
    name = f"plqy_{method}"
    fn = getattr(sp, name, None)
    if fn is None:
        raise InputError(f"unknown PLQY method {method!r}; expected two_step or de_mello", field="method")
    scans = {role: _first(sp.read_spectra(p, kind="pl")) for role, p in task.files.items()}
    exc_nm = float(task.options["excitation_nm"])
    half = float(task.options["excitation_halfwidth_nm"])
    windows = {"excitation_nm": (exc_nm - half, exc_nm + half),
               "emission_nm": tuple(float(v) for v in task.options["emission_window_nm"])}
    order = ("blank", "sample") if method == "two_step" else ("a", "b", "c")
    res = fn(*(scans[r] for r in order), **windows)
    d = _strip_arrays(_to_dict(res))
    qy = getattr(res, "qy", None)
    if isinstance(qy, (int, float)):
        d["qy_percent"] = 100.0 * float(qy)
    return Outcome(task, f"spectra.{name}", "ok", d, parameters={"method": method, **windows})


def _ms(task: Task, msd: Any) -> Outcome:
    """Cluster fragments (reflectron / role clusters): assignment; QD bands in linear mode: molecular-ion sizes."""
    spectrum = msd.read_mass_spectrum(task.path)
    mode = task.options.get("mode") or spectrum.mode
    figs: dict[str, bytes] = {}
    from qdlab.ms.plot import plot_analysis, plot_size

    if mode == "linear" and task.role != "clusters":
        res = msd.molecular_ion_size(spectrum, material=task.material)
        analysis, plot = "ms.molecular_ion_size", plot_size
    else:
        res = msd.analyze(spectrum)
        analysis, plot = "ms.analyze", plot_analysis
    d = _strip_arrays(_to_dict(res))
    assignment = getattr(res, "assignment", None)
    if assignment is not None:  # best candidates (a lazily built property, not part of to_dict)
        d["assigned"] = [
            {"mass_da": p.mass_da, "n_candidates": p.n_candidates,
             "candidates": [_strip_arrays(c.to_dict()) for c in p.candidates[:3]]}
            for p in assignment.peaks
        ]
    figs["ms"] = png(lambda: plot(res))
    stride = max(1, len(spectrum) // 20000)
    return Outcome(
        task, analysis, "ok", d,
        arrays={"mz": spectrum.mz[::stride], "intensity": spectrum.intensity[::stride]},
        figures=figs, parameters={"mode": mode, "calibration": dict(spectrum.calibration)},
    )


def _tem(task: Task, tem: Any) -> Outcome:
    mic = tem.read_micrograph(task.path)
    seg = tem.segment_particles(mic)
    table = tem.measure_particles(seg)
    diam = table.diameters_nm
    diam = np.asarray(diam() if callable(diam) else diam, dtype=float)
    dist = tem.size_distribution(diam)
    figs: dict[str, bytes] = {}
    from qdlab.tem.plot import overlay_figure

    figs["overlay"] = png(lambda: overlay_figure(mic, table))
    return Outcome(task, "tem.size_distribution", "ok", _strip_arrays(_to_dict(dist)),
                   arrays={"diameter_nm": diam}, figures=figs, parameters={"nm_per_px": list(mic.nm_per_px)})


def _xrd(task: Task, xrd: Any) -> Outcome:
    """Phase identification with the Debye-equation size fit of the best phase (``match_phases``)."""
    pattern = xrd.read_diffractogram(task.path)
    match = xrd.match_phases(pattern)
    d = _strip_arrays(_to_dict(match))
    from qdlab.xrd.plot import plot_match

    figs = {"fit": png(lambda: plot_match(match))}
    return Outcome(task, "xrd.match_phases", "ok", d,
                   arrays={"two_theta_deg": pattern.two_theta_deg, "intensity": pattern.intensity}, figures=figs,
                   parameters={"wavelength_angstrom": pattern.wavelength_angstrom})


_RUNNERS: dict[str, Callable[[Task, Any], Outcome]] = {
    "pl": _pl, "absorbance": _absorbance, "plqy": _plqy, "ms": _ms, "tem": _tem, "xrd": _xrd,
}


def run_task(task: Task) -> Outcome:
    """Run one task: a refused file or an analysis that does not apply (``QdlabError``) comes back as an
    ``error`` outcome with the message; any other exception is a bug and propagates."""
    import matplotlib

    matplotlib.use("Agg")
    dom_name = DOMAINS[task.kind]
    mod = importlib.import_module(f"qdlab.{dom_name}")
    try:
        return _RUNNERS[task.kind](task, mod)
    except QdlabError as exc:
        return Outcome(task, dom_name, "error", error=f"{task.source_name}: {exc}")


__all__ = ["DOMAINS", "Outcome", "Task", "png", "run_task"]
