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
    "xrd": ("xrd", ("read_diffractogram", "match_phases")),
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
    method = task.options.get("method", "two_step")
    name = f"plqy_{method}"
    fn = getattr(domain("spectra", (name,)), name, None)
    if fn is None:
        return Outcome(task, f"spectra.{name}", "unavailable", error=unavailable_message("spectra"))
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
    if mode == "linear" and task.role != "clusters" and hasattr(msd, "molecular_ion_size"):
        res = msd.molecular_ion_size(spectrum, material=task.material)
        analysis, plot = "ms.molecular_ion_size", _plot_fn("ms", "plot_size")
    else:
        res = msd.analyze(spectrum)
        analysis, plot = "ms.analyze", _plot_fn("ms", "plot_analysis")
    d = _strip_arrays(_to_dict(res))
    assignment = getattr(res, "assignment", None)
    if assignment is not None:  # best candidates (a lazily built property, not part of to_dict)
        d["assigned"] = [
            {"mass_da": p.mass_da, "n_candidates": p.n_candidates,
             "candidates": [_strip_arrays(c.to_dict()) for c in p.candidates[:3]]}
            for p in assignment.peaks
        ]
    if plot is not None:
        figs["ms"] = png(plot(res))
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
    overlay = _plot_fn("tem", "overlay_figure")
    if overlay is not None:
        figs["overlay"] = png(overlay(mic, table))
    else:
        figs["overlay"] = png(_overlay_figure(mic, seg, task.source_name))
    return Outcome(task, "tem.size_distribution", "ok", _strip_arrays(_to_dict(dist)),
                   arrays={"diameter_nm": diam}, figures=figs, parameters={"nm_per_px": list(mic.nm_per_px)})


def _xrd(task: Task, xrd: Any) -> Outcome:
    """Phase identification with the Debye-equation size fit of the best phase (``match_phases``)."""
    pattern = xrd.read_diffractogram(task.path)
    match = xrd.match_phases(pattern)
    d = _strip_arrays(_to_dict(match))
    figs: dict[str, bytes] = {}
    plot = _plot_fn("xrd", "plot_match")
    if plot is not None:
        figs["fit"] = png(plot(match))
    return Outcome(task, "xrd.match_phases", "ok", d,
                   arrays={"two_theta_deg": pattern.two_theta_deg, "intensity": pattern.intensity}, figures=figs,
                   parameters={"wavelength_angstrom": pattern.wavelength_angstrom})


_RUNNERS: dict[str, Callable[[Task, Any], Outcome]] = {
    "pl": _pl, "absorbance": _absorbance, "plqy": _plqy, "ms": _ms, "tem": _tem, "xrd": _xrd,
}


def _plot_fn(dom: str, name: str) -> Callable[..., Any] | None:
    """A domain's plot function ``qdlab.<dom>.plot.<name>``, if it ships one."""
    try:
        mod = importlib.import_module(f"qdlab.{dom}.plot")
    except ImportError:
        return None
    return getattr(mod, name, None)


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
