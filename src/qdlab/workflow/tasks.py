"""One analysis task per measurement, run in worker processes through :mod:`qdlab.compute`.

Each task reads one raw file with the domain's reader and analyses it with the domain's code
(``qdlab.spectra``, ``qdlab.ms``, ``qdlab.tem``, ``qdlab.xrd``); no science is re-implemented here.
A task never raises: it returns an :class:`Outcome` whose ``status`` is ``ok``, ``error`` (the file
name and the domain's message) or ``unavailable`` (that domain is not part of this qdlab version; the
file is still stored with its hash and size). Outcomes carry JSON-able results, the arrays to keep
in the record (Parquet), and the report's figures as PNG bytes (drawn in the worker).
"""

from __future__ import annotations

import importlib
import io
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdlab.data.errors import QdlabError

#: Which issue builds each domain (used in "not available" messages).
DOMAIN_ISSUE = {"spectra": 4, "ms": 5, "tem": 6, "xrd": 6, "twin": 3}
#: The domain package and the public names a task of each kind needs.
REQUIRES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pl": ("spectra", ("read_spectra", "analyze_pl")),
    "absorbance": ("spectra", ("read_spectra", "analyze_absorbance")),
    "plqy": ("spectra", ("read_spectra",)),
    "ms": ("ms", ("read_mass_spectrum", "analyze")),
    "tem": ("tem", ("read_micrograph", "segment_particles", "measure_particles", "size_distribution")),
    "xrd": ("xrd", ("read_diffractogram", "match_phases", "fit_crystallite_size")),
}


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


def domain(name: str, names: tuple[str, ...] = ()) -> Any | None:
    """The domain module ``qdlab.<name>`` if it exists and exports all ``names``, else ``None``."""
    try:
        mod = importlib.import_module(f"qdlab.{name}")
    except Exception:  # ImportError, or a domain package that fails to import
        return None
    if getattr(mod, "__file__", None) is None:  # an empty namespace folder: the domain has not landed
        return None
    for n in names:
        try:
            getattr(mod, n)
        except Exception:  # a half-landed domain (lazy import failing) counts as absent
            return None
    return mod


def unavailable_message(dom: str) -> str:
    """The report's plain statement for a domain not in this version."""
    return (
        f"analysis not available in this qdlab version: qdlab.{dom} (issue {DOMAIN_ISSUE.get(dom, '?')}) "
        "has not landed; the file is stored with its size and sha256"
    )


def available_domains() -> dict[str, bool]:
    """For each task kind, whether its domain code is present (part of the run's fingerprint)."""
    return {kind: domain(dom, names) is not None for kind, (dom, names) in REQUIRES.items()}


def png(fig: Any, dpi: int = 110) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _to_dict(obj: Any) -> dict[str, Any]:
    from qdlab.data.types import to_jsonable

    d = obj.to_dict() if hasattr(obj, "to_dict") else to_jsonable(obj)
    return d if isinstance(d, dict) else {"value": d}


def _strip_arrays(d: Any, max_len: int = 64) -> Any:
    """Drop long numeric lists (they go to Parquet) from a result dict for the SQL row."""
    if isinstance(d, dict):
        return {k: _strip_arrays(v, max_len) for k, v in d.items() if not (isinstance(v, list) and len(v) > max_len)}
    if isinstance(d, list):
        return [_strip_arrays(v, max_len) for v in d]
    return d


def _first(series: Any) -> Any:
    return series.spectra[0] if hasattr(series, "spectra") else series


# ---- per-kind analyses ------------------------------------------------------------------------
def _pl(task: Task, sp: Any) -> Outcome:
    spec = _first(sp.read_spectra(task.path, kind="pl"))
    res = sp.analyze_pl(spec)
    return Outcome(
        task, "spectra.analyze_pl", "ok", _strip_arrays(_to_dict(res)),
        arrays={"x": spec.x, "y": spec.y}, parameters={"x_unit": spec.x_unit}, payload={"spectrum": spec},
    )


def _absorbance(task: Task, sp: Any) -> Outcome:
    spec = _first(sp.read_spectra(task.path, kind="absorbance"))
    res = sp.analyze_absorbance(spec)
    return Outcome(
        task, "spectra.analyze_absorbance", "ok", _strip_arrays(_to_dict(res)),
        arrays={"x": spec.x, "y": spec.y}, parameters={"x_unit": spec.x_unit}, payload={"spectrum": spec},
    )


def _plqy(task: Task, sp: Any) -> Outcome:
    scans = {role: _first(sp.read_spectra(p)) for role, p in task.files.items()}
    method = task.options.get("method", "two_step")
    exc_nm = float(task.options.get("excitation_nm", 808.0))
    if method == "demello":
        fn = getattr(sp, "plqy_demello", None)
        if fn is None:
            return Outcome(task, "spectra.plqy_demello", "unavailable", error=unavailable_message("spectra"))
        res = fn(scans["a"], scans["b"], scans["c"], excitation_nm=exc_nm)
    else:
        fn = getattr(sp, "plqy_two_step", None)
        if fn is None:
            return Outcome(task, "spectra.plqy_two_step", "unavailable", error=unavailable_message("spectra"))
        res = fn(scans["blank"], scans["sample"], excitation_nm=exc_nm)
    return Outcome(task, f"spectra.plqy_{method}", "ok", _strip_arrays(_to_dict(res)),
                   parameters={"method": method, "excitation_nm": exc_nm})


def _ms(task: Task, msd: Any) -> Outcome:
    spectrum = msd.read_mass_spectrum(task.path)
    res = msd.analyze(spectrum)
    d = _to_dict(res)
    figs: dict[str, bytes] = {}
    plot = getattr(importlib.import_module("qdlab.ms"), "plot_spectrum", None) or _find_plot("ms")
    if plot is not None:
        try:
            figs["ms"] = png(plot(spectrum, res))
        except Exception:
            figs = {}
    stride = max(1, len(spectrum) // 20000)
    return Outcome(
        task, "ms.analyze", "ok", _strip_arrays(d), arrays={"mz": spectrum.mz[::stride], "intensity": spectrum.intensity[::stride]},
        figures=figs, parameters={"mode": spectrum.mode, "calibration": dict(spectrum.calibration)},
    )


def _tem(task: Task, tem: Any) -> Outcome:
    mic = tem.read_micrograph(task.path)
    labels = tem.segment_particles(mic)
    particles = tem.measure_particles(labels, mic) if _nargs(tem.measure_particles) >= 2 else tem.measure_particles(labels)
    dist = tem.size_distribution(particles)
    d = _to_dict(dist)
    arrays: dict[str, Any] | None = None
    diam = _column(particles, ("diameter_nm", "equivalent_diameter_nm", "diameters_nm"))
    if diam is not None:
        arrays = {"diameter_nm": diam}
    figs = {"overlay": png(_overlay_figure(mic, labels, task.source_name))}
    return Outcome(task, "tem.size_distribution", "ok", _strip_arrays(d), arrays=arrays, figures=figs,
                   parameters={"nm_per_px": list(mic.nm_per_px)})


def _xrd(task: Task, xrd: Any) -> Outcome:
    pattern = xrd.read_diffractogram(task.path)
    match = xrd.match_phases(pattern)
    size = xrd.fit_crystallite_size(pattern)
    d = {"phases": _to_dict(match), "crystallite_size": _to_dict(size)}
    arrays = {"two_theta_deg": pattern.two_theta_deg, "intensity": pattern.intensity}
    fit = _column(size, ("fit", "model", "fitted_intensity", "best_fit"))
    if fit is not None and np.size(fit) == len(pattern):
        arrays["fit"] = np.asarray(fit, dtype=float)
    return Outcome(task, "xrd.match_phases+fit_crystallite_size", "ok", _strip_arrays(d), arrays=arrays,
                   parameters={"wavelength_angstrom": pattern.wavelength_angstrom})


_RUNNERS: dict[str, Callable[[Task, Any], Outcome]] = {
    "pl": _pl, "absorbance": _absorbance, "plqy": _plqy, "ms": _ms, "tem": _tem, "xrd": _xrd,
}


def _nargs(fn: Callable[..., Any]) -> int:
    import inspect

    try:
        return sum(
            1 for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        )
    except (TypeError, ValueError):
        return 1


def _column(obj: Any, names: tuple[str, ...]) -> Any | None:
    for n in names:
        v = obj.get(n) if isinstance(obj, Mapping) else getattr(obj, n, None)
        if v is not None:
            try:
                arr = np.asarray(v, dtype=float)
            except (TypeError, ValueError):
                continue
            if arr.ndim == 1:
                return arr
    return None


def _find_plot(dom: str) -> Callable[..., Any] | None:
    try:
        mod = importlib.import_module(f"qdlab.{dom}.plot")
    except ImportError:
        return None
    return getattr(mod, "plot_spectrum", None) or getattr(mod, "plot", None)


def _overlay_figure(mic: Any, labels: Any, title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    lab = getattr(labels, "labels", labels)
    img = np.asarray(mic.image, dtype=float)
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.imshow(img, cmap="gray")
    if isinstance(lab, np.ndarray) and lab.shape == img.shape:
        edge = find_boundaries(lab, mode="outer")
        ax.imshow(np.ma.masked_where(~edge, edge), cmap="autumn", alpha=0.9)
    ny, nx = img.shape
    bar_nm = 10.0
    bar_px = bar_nm / mic.nm_per_px[1]
    ax.plot([nx * 0.05, nx * 0.05 + bar_px], [ny * 0.93, ny * 0.93], color="white", lw=3)
    ax.text(nx * 0.05, ny * 0.90, f"{bar_nm:g} nm", color="white")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return fig


def run_task(task: Task) -> Outcome:
    """Run one task; never raises (errors and missing domains come back in the outcome)."""
    import matplotlib

    matplotlib.use("Agg")
    dom_name, names = REQUIRES[task.kind]
    mod = domain(dom_name, names)
    if mod is None:
        return Outcome(task, f"{dom_name}", "unavailable", error=unavailable_message(dom_name))
    try:
        return _RUNNERS[task.kind](task, mod)
    except QdlabError as exc:
        return Outcome(task, dom_name, "error", error=f"{task.source_name}: {exc}")
    except Exception as exc:
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Outcome(task, dom_name, "error", error=f"{task.source_name}: internal error in qdlab.{dom_name}: {tb}")


__all__ = ["Task", "Outcome", "run_task", "domain", "available_domains", "unavailable_message", "png", "REQUIRES"]
