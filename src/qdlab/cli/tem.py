"""CLI commands for ``qdlab tem``: ``size`` (measure particles in micrographs) and ``synth`` (synthetic images)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qdlab.cli.common import JsonOpt, SchedulerOpt, emit, existing_file, key_value_table
from qdlab.data.errors import InputError


def _size(
    images: Annotated[list[Path], typer.Argument(help="Micrographs: TIFF (ImageJ/FEI calibration), DM3/DM4, SER, EMD.")],
    nm_per_px: Annotated[float | None, typer.Option(help="Pixel size (nm); overrides or replaces the file's.")] = None,
    expected_diameter_nm: Annotated[float, typer.Option(help="Typical particle diameter (sets seed spacing).")] = 4.0,
    bright_particles: Annotated[bool, typer.Option(help="Particles brighter than the film (HAADF-STEM).")] = False,
    edge_model: Annotated[str, typer.Option(help="Edge model: sphere (QDs) or disk (plates).")] = "sphere",
    psf_sigma_nm: Annotated[float | None, typer.Option(help="Image blur (nm); default: fitted per image.")] = None,
    overlay: Annotated[Path | None, typer.Option(help="Write an overlay PNG of what was measured (first image).", dir_okay=False)] = None,
    histogram: Annotated[Path | None, typer.Option(help="Write a size histogram PNG.", dir_okay=False)] = None,
    particles_csv: Annotated[Path | None, typer.Option(help="Write the per-particle table (CSV).", dir_okay=False)] = None,
    scheduler: SchedulerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure particle diameters in TEM micrographs (edge fit, Feret, circularity) and their distribution."""
    import numpy as np

    from qdlab.compute import mapper
    from qdlab.tem.io import read_micrograph
    from qdlab.tem.pipeline import size_images
    from qdlab.tem.stats import edge_weights, size_distribution

    if edge_model not in ("sphere", "disk"):
        raise InputError(f"expected 'sphere' or 'disk', got {edge_model!r}", field="--edge-model")
    if not images:
        raise InputError("give at least one image")
    if expected_diameter_nm <= 0:
        raise InputError("must be positive", field="--expected-diameter-nm")
    for path in images:
        existing_file(path, "image")
    options = {"nm_per_px": nm_per_px, "edge_model": edge_model, "psf_sigma_nm": psf_sigma_nm,
               "expected_diameter_nm": expected_diameter_nm, "dark_particles": not bright_particles}
    runs = size_images(list(images), options,
                       map_fn=map if len(images) == 1 else mapper(scheduler or "local", "sizing particles"))
    per_image: list[dict[str, Any]] = []
    tables = []
    all_d: list[np.ndarray] = []
    all_w: list[np.ndarray] = []
    for run in runs:
        table = run.table
        tables.append(table)
        d = table.diameters_nm
        all_d.append(d)
        field_nm = (run.shape_px[0] * run.nm_per_px[0], run.shape_px[1] * run.nm_per_px[1])
        all_w.append(edge_weights(d, field_nm))
        dist = size_distribution(d)
        per_image.append({
            "path": run.path, "sha256": run.meta.get("sha256"), "nm_per_px": list(run.nm_per_px),
            "calibration_source": run.meta.get("calibration_source"), "shape_px": list(run.shape_px),
            "count": dist.count, "mean_diameter_nm": dist.mean_diameter_nm, "std_diameter_nm": dist.std_diameter_nm,
            "psf_sigma_nm": table.psf_sigma_nm, "candidates": len(table),
            "rejected": {r: table.reject_reason.count(r) for r in sorted(set(table.reject_reason)) if r},
            "edge_fits_at_bound": int(table["edge_at_bound"].sum()) if len(table) else 0,
            "warnings": list(table.warnings),
            "seconds": sum(table.timings_s.values()),
        })
    first = (read_micrograph(images[0], nm_per_px=nm_per_px), tables[0]) if overlay is not None else None
    dia = np.concatenate(all_d) if all_d else np.empty(0)
    wts = np.concatenate(all_w) if all_w else np.empty(0)
    dist = size_distribution(dia)
    ec_mean = float(np.average(dia, weights=wts)) if dia.size else float("nan")
    if overlay is not None and first is not None:
        from qdlab.tem.plot import overlay_figure, save_figure

        save_figure(overlay_figure(*first), str(overlay))
    if histogram is not None:
        from qdlab.tem.plot import histogram_figure, save_figure

        save_figure(histogram_figure(dist), str(histogram))
    if particles_csv is not None:
        import pandas as pd

        frames = []
        for path, t in zip(images, tables, strict=True):
            df = t.to_pandas()
            df.insert(0, "image", str(path))
            frames.append(df)
        pd.concat(frames).to_csv(particles_csv, index=False)
    result = {
        "count": dist.count, "mean_diameter_nm": dist.mean_diameter_nm, "std_diameter_nm": dist.std_diameter_nm,
        "sem_diameter_nm": dist.sem_diameter_nm, "ci95_diameter_nm": list(dist.ci95_diameter_nm),
        "median_diameter_nm": dist.median_diameter_nm, "relative_std": dist.relative_std,
        "edge_corrected_mean_diameter_nm": ec_mean,
        "lognormal": {"mu": dist.lognormal_mu, "sigma": dist.lognormal_sigma,
                      "median_nm": dist.lognormal_median_nm, "mean_nm": dist.lognormal_mean_nm},
        "diameters_nm": dia.tolist(), "edge_model": edge_model, "images": per_image,
        "histogram": {"edges_nm": dist.histogram_edges_nm.tolist(), "counts": dist.histogram_counts.tolist()},
        "overlay": str(overlay) if overlay else None, "histogram_png": str(histogram) if histogram else None,
        "warnings": [f"{im['path']}: {w}" for im in per_image for w in im["warnings"]],
    }

    def render(d: dict[str, Any]) -> None:
        key_value_table("TEM size distribution", d, [
            ("count", "N"), ("mean_diameter_nm", "mean (nm)"), ("std_diameter_nm", "SD (nm)"),
            ("sem_diameter_nm", "SEM (nm)"), ("median_diameter_nm", "median (nm)"), ("relative_std", "SD/mean"),
        ])
        for im in d["images"]:
            mean = "n/a" if im["mean_diameter_nm"] is None else f"{im['mean_diameter_nm']:.3f} nm"
            print(f"{im['path']}: N={im['count']} mean={mean} "
                  f"({im['nm_per_px'][1]:.4g} nm/px, {im['calibration_source']}), rejected {im['rejected']}")
        for w in d["warnings"]:
            print(f"WARNING: {w}")

    emit(result, json_out, render)


def _synth(
    out: Annotated[Path, typer.Argument(help="Output TIFF (ImageJ calibration); ground truth is written beside it.", dir_okay=False)],
    count: Annotated[int, typer.Option(help="Number of particles.")] = 500,
    mean_diameter_nm: Annotated[float, typer.Option(help="Mean diameter (nm).")] = 4.0,
    std_diameter_nm: Annotated[float, typer.Option(help="Standard deviation of the diameter (nm).")] = 0.4,
    size_px: Annotated[int, typer.Option(help="Image side (px).")] = 2048,
    nm_per_px: Annotated[float, typer.Option(help="Pixel size (nm).")] = 0.1,
    touching_fraction: Annotated[float, typer.Option(help="Fraction of particles in contact with another.")] = 0.2,
    dose_e_per_px: Annotated[float | None, typer.Option(help="Electron dose on bare film (e-/px).")] = None,
    lognormal: Annotated[bool, typer.Option(help="Draw diameters from a lognormal instead of a normal.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Render a synthetic bright-field micrograph of QDs with exact ground truth (CSV + JSON beside it)."""
    from qdlab.tem.io import write_tiff
    from qdlab.tem.synth import synth_micrograph, write_ground_truth

    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"output must be a .tif/.tiff file, got {out.name}", field="OUT")
    if not out.parent.exists():
        raise InputError(f"folder does not exist: {out.parent}", field="OUT")
    res = synth_micrograph(
        count=count, mean_diameter_nm=mean_diameter_nm, std_diameter_nm=std_diameter_nm, size_px=size_px,
        nm_per_px=nm_per_px, touching_fraction=touching_fraction, dose_e_per_px=dose_e_per_px,
        distribution="lognormal" if lognormal else "normal", seed=seed,
    )
    write_tiff(out, res.micrograph)
    csv_path, json_path = write_ground_truth(res.truth, out)
    summ = res.truth.summary()
    result = {
        "image": str(out), "truth_csv": str(csv_path), "truth_json": str(json_path), "count": res.truth.count,
        "inside_count": summ["count"], "touching_count": int(res.truth.touching.sum()),
        "cut_by_border_count": int(res.truth.cut_by_border.sum()), "mean_diameter_nm": summ["mean_diameter_nm"],
        "std_diameter_nm": summ["std_diameter_nm"], "nm_per_px": nm_per_px, "size_px": size_px, "seed": seed,
    }
    emit(result, json_out, lambda d: key_value_table("synthetic micrograph", d))


def register(app: typer.Typer) -> None:
    """Attach ``qdlab tem size`` and ``qdlab tem synth`` to the root app."""
    sub = typer.Typer(help="TEM particle sizing and synthetic micrographs.", no_args_is_help=True)
    sub.command("size")(_size)
    sub.command("synth")(_synth)
    app.add_typer(sub, name="tem")
