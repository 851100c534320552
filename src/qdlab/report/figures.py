"""The report's figures, drawn with matplotlib in the qdlab style from a run's arrays and results.

Each ``*_figure`` function returns ``(figure, data)``: a matplotlib Figure drawn in
:mod:`qdlab.report.style` and the columns it plots (written beside it as CSV). :func:`collect` turns a
run's analyses into :class:`ReportFigure` items -- the same list feeds the HTML report, the files in
``report/figures/`` and the web dashboard's downloads. Analyses come either from a run (workflow
``Outcome`` objects) or from the record (:func:`analyses_from_record`), so a stored experiment redraws the
figures its report showed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdlab.report import style as S
from qdlab.units import HC_EV_NM


@dataclass(frozen=True)
class Analysis:
    """One analysed measurement, whether fresh from a run or read back from the record."""

    kind: str
    source_name: str
    status: str
    role: str | None = None
    aliquot: str | None = None
    result: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, Any] | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    figures: Mapping[str, bytes] = field(default_factory=dict)


@dataclass
class ReportFigure:
    """One figure of the report: drawn on demand (``draw``) or a raster made elsewhere (``raster_png``).

    ``name`` is the file stem (``pl-waterfall``, ``ms-clusters`` ...); ``data`` the plotted columns.
    """

    section: str
    name: str
    caption: str
    alt: str
    key: str | None = None
    draw: Callable[[], tuple[Any, Mapping[str, Sequence[Any]]]] | None = None
    raster_png: bytes | None = None

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats this figure can be written in."""
        return ("png",) if self.draw is None else S.FORMATS

    def render(self, formats: Sequence[str] = ("png",)) -> tuple[dict[str, bytes], Mapping[str, Sequence[Any]] | None]:
        """``({format: bytes}, data)``; a raster figure gives its PNG only and no data."""
        if self.draw is None:
            return ({"png": self.raster_png} if self.raster_png is not None and "png" in formats else {}), None
        fig, data = self.draw()
        try:
            return {fmt: S.figure_bytes(fig, fmt) for fmt in formats}, data
        finally:
            S.close(fig)


    def render_preview(self, dpi: int = 110) -> bytes:
        """A screen-resolution PNG (for a web page); the raster figure as it is."""
        if self.draw is None:
            return self.raster_png or b""
        import io

        fig, _ = self.draw()
        buf = io.BytesIO()
        with S.figure_style():
            fig.savefig(buf, format="png", dpi=dpi)
        S.close(fig)
        return buf.getvalue()


def slug(text: str) -> str:
    """A file-name-safe stem from a label's last part (``ms/clusters`` -> ``clusters``; ``tem/before.tif`` -> ``before``).

    Examples
    --------
    >>> slug("tem/before.tif"), slug("/data/run 3/A10.txt"), slug("***")
    ('before', 'a10', 'figure')
    """
    base = str(text).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    base = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", base)
    s = re.sub(r"[^A-Za-z0-9]+", "-", base).strip("-").lower()
    return s or "figure"


# ---- the figures ------------------------------------------------------------------------------------
def _as_wavelength(x: np.ndarray, x_unit: str | None) -> np.ndarray:
    return HC_EV_NM / x if x_unit == "ev" else x


def waterfall_figure(spectra: Sequence[tuple[str, np.ndarray, np.ndarray]], *, offset: float = 0.6,
                     ylabel: str = "normalised PL intensity (offset)", title: str = "PL of the aliquots",
                     ) -> tuple[Any, dict[str, list[Any]]]:
    """Normalised spectra of the aliquots, stacked, on a wavelength axis with photon energy on top.

    Parameters
    ----------
    spectra
        ``(label, wavelength_nm, intensity)`` per aliquot, in order (the paper's Fig. 3 for PL, Fig. 2a for
        absorbance).
    offset
        Vertical shift between consecutive normalised spectra.
    """
    plt = S.pyplot()
    data: dict[str, list[Any]] = {"aliquot": [], "wavelength_nm": [], "energy_ev": [], "intensity": [],
                                  "normalised_intensity": [], "offset": []}
    with S.figure_style():
        fig, ax = plt.subplots(figsize=(6.4, 1.6 + 0.38 * max(len(spectra), 1)))
        cmap = plt.get_cmap(S.SEQUENTIAL_CMAP)
        for i, (label, lam, y) in enumerate(spectra):
            lam = np.asarray(lam, dtype=float)
            y = np.asarray(y, dtype=float)
            order = np.argsort(lam)
            lam, y = lam[order], y[order]
            finite = np.isfinite(y)
            peak = float(np.max(y[finite])) if np.any(finite) and np.max(y[finite]) > 0 else 1.0
            color = cmap(0.9 * i / max(len(spectra) - 1, 1))
            ax.plot(lam, y / peak + i * offset, color=color)
            ax.annotate(str(label), xy=(1.0, i * offset + 0.1), xycoords=("axes fraction", "data"),
                        xytext=(4, 0), textcoords="offset points", color=color, fontsize=8, va="center")
            data["aliquot"] += [str(label)] * lam.size
            data["wavelength_nm"] += lam.tolist()
            data["energy_ev"] += np.asarray(S.nm_to_ev(lam)).tolist()
            data["intensity"] += y.tolist()
            data["normalised_intensity"] += (y / peak).tolist()
            data["offset"] += [i * offset] * lam.size
        ax.set_xlabel("wavelength (nm)")
        ax.set_ylabel(ylabel)
        ax.set_yticks([])
        S.add_energy_axis(ax)
        ax.set_title(S.plain_title(title))
    return fig, data


def trends_figure(rows: Sequence[Mapping[str, Any]]) -> tuple[Any, dict[str, list[Any]]]:
    """PL peak (nm, with eV on the right), FWHM (meV) and PLQY (%) against time since injection (min).

    Aliquots without a time are placed by their order (the x axis then says so).
    """
    plt = S.pyplot()

    def col(key: str) -> np.ndarray:
        return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows], dtype=float)

    t = col("time_min")
    use_time = bool(rows) and bool(np.all(np.isfinite(t)))
    x = t if use_time else np.arange(len(rows), dtype=float)
    data: dict[str, list[Any]] = {
        "aliquot": [str(r.get("aliquot")) for r in rows], "time_min": t.tolist(), "pl_peak_nm": col("pl_peak_nm").tolist(),
        "pl_peak_ev": np.asarray(S.nm_to_ev(col("pl_peak_nm"))).tolist(), "fwhm_mev": col("fwhm_mev").tolist(),
        "qy_percent": col("qy_percent").tolist(),
    }
    with S.figure_style():
        fig, axes = plt.subplots(3, 1, figsize=(6.4, 6.0), sharex=True)
        for ax, key, ylabel, color in (
            (axes[0], "pl_peak_nm", "PL peak (nm)", S.PALETTE[1]),
            (axes[1], "fwhm_mev", "FWHM (meV)", S.PALETTE[0]),
            (axes[2], "qy_percent", "PLQY (%)", S.PALETTE[2]),
        ):
            y = col(key)
            ax.plot(x, y, "o-", color=color, ms=4)
            ax.set_ylabel(ylabel)
            ax.grid(True)
            if not np.any(np.isfinite(y)):
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center", color="0.4")
        S.add_energy_axis(axes[0], where="right", label="PL peak (eV)")
        if use_time:
            axes[-1].set_xlabel("time since injection start (min)")
        else:
            axes[-1].set_xticks(x, data["aliquot"])
            axes[-1].set_xlabel("aliquot (no times recorded)")
        fig.align_ylabels(axes)
    return fig, data


def _declutter(xs: Sequence[float], span: float, min_frac: float = 0.03) -> list[bool]:
    """Keep a label only if it is at least ``min_frac`` of the axis span from the last kept one."""
    keep, last = [], -np.inf
    for x in xs:
        ok = span <= 0 or (x - last) / span >= min_frac
        keep.append(ok)
        if ok:
            last = x
    return keep


def mass_spectrum_figure(mz: Any, intensity: Any, result: Mapping[str, Any], title: str) -> tuple[Any, dict[str, Any]]:
    """A mass spectrum: assigned peaks labelled with their formula (mathtext), molecular-ion modes with their size."""
    plt = S.pyplot()
    mz = np.asarray(mz, dtype=float)
    y = np.asarray(intensity, dtype=float)
    with S.figure_style():
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        ax.plot(mz, y, lw=0.7, color="black")
        ax.set_xlabel("m/z (Da)")
        ax.set_ylabel("intensity (counts)")
        ax.set_title(S.plain_title(title))
        if mz.size:
            span = float(np.nanmax(mz) - np.nanmin(mz))
            labels: list[tuple[float, str]] = []
            for p in result.get("assigned") or []:
                cands = p.get("candidates") or []
                m = p.get("mass_da")
                if isinstance(m, (int, float)) and cands and cands[0].get("formula"):
                    labels.append((float(m), S.formula_tex(cands[0]["formula"], cands[0].get("charge"))))
            labels.sort()
            top = float(np.nanmax(y)) if y.size else 1.0
            for (m, label), keep in zip(labels, _declutter([m for m, _ in labels], span), strict=True):
                if keep:
                    yy = float(np.interp(m, mz, y))
                    ax.annotate(label, (m, yy), xytext=(0, 10), textcoords="offset points", fontsize=7, rotation=90,
                                ha="center", va="bottom", arrowprops={"arrowstyle": "-", "lw": 0.5})
            for k, mode in enumerate(result.get("modes") or []):
                m, d = mode.get("mass_da"), mode.get("diameter_nm")
                if isinstance(m, (int, float)):
                    ax.axvline(m, color=S.PALETTE[1], ls="--", lw=0.8)
                    txt = f"{m / 1000:.1f} kDa" + (f" ≈ {d:.2f} nm core" if isinstance(d, (int, float)) else "")
                    ax.annotate(txt, (m, top), xytext=(4, -12 * (k + 1)), textcoords="offset points", fontsize=8,
                                color=S.PALETTE[1])
            if labels:  # room above the tallest peak for the rotated formulas
                bottom = float(np.nanmin(y)) if y.size else 0.0
                ax.set_ylim(top=top + 0.6 * (top - bottom))
    return fig, {"mz_da": mz.tolist(), "intensity": y.tolist()}


def tem_histogram_figure(groups: Sequence[tuple[str, Any]]) -> tuple[Any, dict[str, list[Any]]]:
    """Histograms of TEM particle diameters, one per sample (e.g. before and after overgrowth)."""
    plt = S.pyplot()
    arrays = [(label, np.asarray(d, dtype=float)) for label, d in groups]
    finite = np.concatenate([d[np.isfinite(d)] for _, d in arrays]) if arrays else np.array([])
    data: dict[str, list[Any]] = {"sample": [], "diameter_nm": []}
    with S.figure_style():
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        bins: Any = np.linspace(finite.min() * 0.9, finite.max() * 1.1, 30) if finite.size > 1 else 20
        for i, (label, d) in enumerate(arrays):
            sd = np.std(d, ddof=1) if d.size > 1 else float("nan")
            ax.hist(d, bins=bins, alpha=0.6, color=S.PALETTE[i % len(S.PALETTE)],
                    label=f"{label}: {np.mean(d):.2f} ± {sd:.2f} nm (n = {d.size})")
            data["sample"] += [label] * d.size
            data["diameter_nm"] += d.tolist()
        ax.set_xlabel("particle diameter (nm)")
        ax.set_ylabel("particles (count)")
        ax.legend()
        ax.set_title("TEM size distributions")
    return fig, data


def xrd_figure(two_theta_deg: Any, intensity: Any, fit: Any | None, title: str) -> tuple[Any, dict[str, list[Any]]]:
    """A powder pattern with the fitted model and residual when the fit curve is known."""
    plt = S.pyplot()
    x = np.asarray(two_theta_deg, dtype=float)
    y = np.asarray(intensity, dtype=float)
    data: dict[str, list[Any]] = {"two_theta_deg": x.tolist(), "intensity": y.tolist()}
    with S.figure_style():
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        ax.plot(x, y, lw=0.8, color="black", label="measured")
        if fit is not None:
            f = np.asarray(fit, dtype=float)
            ax.plot(x, f, color=S.PALETTE[1], label="fit")
            ax.plot(x, y - f, lw=0.6, color="0.5", label="residual")
            data["fit"] = f.tolist()
            ax.legend()
        ax.set_xlabel("2θ (°)")
        ax.set_ylabel("intensity (counts)")
        ax.set_title(S.plain_title(title))
    return fig, data


def twin_figure(rows: Sequence[Mapping[str, Any]], predicted_nm: Sequence[float] | None,
                predicted_time_min: Sequence[float] | None) -> tuple[Any, dict[str, list[Any]]]:
    """Measured PL peaks (points) against the calibrated twin's prediction (line), versus time."""
    plt = S.pyplot()
    t = [float(r["time_min"]) for r in rows if r.get("pl_peak_nm") is not None and r.get("time_min") is not None]
    y = [float(r["pl_peak_nm"]) for r in rows if r.get("pl_peak_nm") is not None and r.get("time_min") is not None]
    data: dict[str, list[Any]] = {"series": ["measured"] * len(t), "time_min": list(t), "pl_peak_nm": list(y)}
    with S.figure_style():
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        ax.plot(t, y, "o", color="black", ms=4, label="measured")
        if predicted_nm is not None and predicted_time_min is not None:
            ax.plot(predicted_time_min, predicted_nm, "-", color=S.PALETTE[1], label="twin (calibrated)")
            data["series"] += ["twin"] * len(predicted_nm)
            data["time_min"] += [float(v) for v in predicted_time_min]
            data["pl_peak_nm"] += [float(v) for v in predicted_nm]
        ax.set_xlabel("time since injection start (min)")
        ax.set_ylabel("PL peak (nm)")
        S.add_energy_axis(ax, where="right", label="PL peak (eV)")
        ax.legend()
        ax.set_title("Twin vs measured")
    data["energy_ev"] = np.asarray(S.nm_to_ev(np.asarray(data["pl_peak_nm"], dtype=float))).tolist()
    return fig, data


# ---- from analyses to figures -------------------------------------------------------------------------
def analyses_from_outcomes(outcomes: Sequence[Any]) -> list[Analysis]:
    """Workflow outcomes (``qdlab.workflow.tasks.Outcome``) as :class:`Analysis` items."""
    return [
        Analysis(kind=o.task.kind, source_name=o.task.source_name, status=o.status, role=o.task.role,
                 aliquot=o.task.aliquot, result=o.result or {}, arrays=o.arrays, parameters=o.parameters or {},
                 figures=o.figures or {})
        for o in outcomes
    ]


def analyses_from_record(record: Mapping[str, Any], get_arrays: Callable[[str], Mapping[str, Any]]) -> list[Analysis]:
    """A stored experiment (``Store.experiment_dict``) as :class:`Analysis` items, arrays read with ``get_arrays``."""
    meas = {m["source_name"]: m for m in record.get("measurements") or []}
    out = []
    for r in record.get("results") or []:
        name = r.get("source_name")
        m = meas.get(name) if name else None
        if m is None:
            continue
        sha = m.get("array_sha256")
        out.append(Analysis(kind=m["kind"], source_name=name, status=r.get("status") or "", role=m.get("role"),
                            aliquot=m.get("aliquot"), result=r.get("result") or {},
                            arrays=(lambda s=sha: get_arrays(s)) if sha else None,  # type: ignore[misc]
                            parameters=r.get("parameters") or {}))
    return out


def _arrays(a: Analysis) -> Mapping[str, Any] | None:
    arr = a.arrays
    return arr() if callable(arr) else arr


def collect(summary: Mapping[str, Any], analyses: Sequence[Analysis], calib: Mapping[str, Any] | None = None,
            ) -> list[ReportFigure]:
    """Every figure of an experiment's report, in report order (nothing is drawn until rendered)."""
    figs: list[ReportFigure] = []
    ok = [a for a in analyses if a.status == "ok"]
    for kind, stem, title, ylabel, offset, what in (
        ("pl", "pl-waterfall", "PL of the aliquots", "normalised PL intensity (offset)", 0.6, "PL"),
        ("absorbance", "absorbance-waterfall", "Absorbance of the aliquots", "normalised absorbance (offset)", 0.4,
         "Absorption"),
    ):
        items = [a for a in ok if a.kind == kind and a.arrays is not None]
        if items:
            def draw(items: list[Analysis] = items, title: str = title, ylabel: str = ylabel,
                     offset: float = offset) -> tuple[Any, Any]:
                curves = []
                for a in items:
                    arr = _arrays(a) or {}
                    x = _as_wavelength(np.asarray(arr["x"], float), a.parameters.get("x_unit"))
                    curves.append((a.aliquot or a.source_name, x, np.asarray(arr["y"], float)))
                return waterfall_figure(curves, offset=offset, ylabel=ylabel, title=title)

            figs.append(ReportFigure("series", stem, f"{what} spectra of the aliquots, each normalised to its maximum "
                                     "and offset; photon energy on the top axis.", f"{what} waterfall", draw=draw))
    rows = list(summary.get("aliquots") or [])
    if rows and any(r.get("pl_peak_nm") is not None for r in rows):
        figs.append(ReportFigure("series", "pl-trends", "PL peak, FWHM and PLQY of each aliquot against time.",
                                 "peak, FWHM and QY vs time", draw=lambda: trends_figure(rows)))
    for a in ok:
        if a.kind == "ms" and a.arrays is not None:
            def draw_ms(a: Analysis = a) -> tuple[Any, Any]:
                arr = _arrays(a) or {}
                return mass_spectrum_figure(arr["mz"], arr["intensity"], a.result, f"{a.source_name} ({a.role})")

            figs.append(ReportFigure("ms", f"ms-{slug(a.source_name)}", f"Mass spectrum {a.source_name} ({a.role}): "
                                     "assigned formulas and molecular-ion modes marked.", "mass spectrum",
                                     key=a.source_name, draw=draw_ms))
        elif a.kind == "xrd" and a.arrays is not None:
            def draw_xrd(a: Analysis = a) -> tuple[Any, Any]:
                arr = _arrays(a) or {}
                return xrd_figure(arr["two_theta_deg"], arr["intensity"], arr.get("fit"), f"{a.source_name} ({a.role})")

            figs.append(ReportFigure("xrd", f"xrd-{slug(a.source_name)}", f"Powder pattern {a.source_name} as measured.",
                                     "XRD pattern", key=a.source_name, draw=draw_xrd))
        for fig_name, png in (a.figures or {}).items():
            if a.kind in ("ms", "xrd", "tem"):
                what = {"ms": "Mass spectrum analysis", "xrd": "Phase match and size fit",
                        "tem": "Segmented particles"}[a.kind]
                figs.append(ReportFigure(a.kind, f"{a.kind}-{slug(a.source_name)}-{slug(fig_name)}",
                                         f"{what} of {a.source_name} ({a.role}), drawn by the {a.kind.upper()} analysis.",
                                         f"{a.kind} {fig_name}", key=a.source_name, raster_png=png))
    tem = [a for a in ok if a.kind == "tem" and a.arrays is not None]
    if tem:
        def draw_tem(tem: list[Analysis] = tem) -> tuple[Any, Any]:
            groups = []
            for a in tem:
                arr = _arrays(a) or {}
                if "diameter_nm" in arr:
                    groups.append((str(a.role or slug(a.source_name)), arr["diameter_nm"]))
            return tem_histogram_figure(groups)

        figs.insert(_section_start(figs, "tem"), ReportFigure("tem", "tem-histogram", "Particle diameters from TEM.",
                                                            "TEM histogram", draw=draw_tem))
    cal = calib if calib is not None else (summary.get("twin") or {})
    if cal.get("status") == "ok":
        res = cal.get("result") or {}
        pred = res.get("predicted_pl_peak_nm") or res.get("pl_peak_nm")
        t = res.get("predicted_time_min") or res.get("time_min")
        good = isinstance(pred, list) and isinstance(t, list) and len(pred) == len(t)
        figs.append(ReportFigure("twin", "twin-vs-measured", "Measured PL peaks and the calibrated twin.",
                                 "twin vs measured",
                                 draw=lambda: twin_figure(rows, pred if good else None, t if good else None)))
    seen: dict[str, int] = {}
    for f in figs:  # two files with the same name in different folders: keep both figures
        seen[f.name] = seen.get(f.name, 0) + 1
        if seen[f.name] > 1:
            f.name = f"{f.name}-{seen[f.name]}"
    return figs


def _section_start(figs: Sequence[ReportFigure], section: str) -> int:
    idx = [i for i, f in enumerate(figs) if f.section == section]
    return idx[0] if idx else len(figs)


__all__ = [
    "Analysis", "ReportFigure", "slug", "waterfall_figure", "trends_figure", "mass_spectrum_figure",
    "tem_histogram_figure", "xrd_figure", "twin_figure", "analyses_from_outcomes", "analyses_from_record", "collect",
]
