"""Synthetic bright-field TEM micrographs of quantum dots with exact ground truth.

The forward model (see ``docs/science.md`` section 5):

1. **Geometry.** Diameters are drawn from a normal distribution (truncated at 40 % of the mean) or a
   lognormal one. A ``touching_fraction`` of the particles is placed in contact with another one (centre
   distance ``r1 + r2 + gap`` with ``gap`` between ``contact_gap_min_nm`` (< 0: overlap in projection) and
   ``contact_gap_max_nm``); the others keep ``isolation_gap_nm`` from everything. Centres are uniform over
   the field, so some particles are cut by the border (flagged in the ground truth).
2. **Mass-thickness contrast.** A sphere of radius ``r`` projects a thickness ``t(rho) = 2 sqrt(r^2 - rho^2)``;
   overlapping spheres add. The transmitted intensity is ``I = I0 exp(-t / lambda)`` with ``lambda`` the
   effective contrast length (``mean_free_path_nm``).
3. **Support film.** ``I0`` carries amorphous-carbon texture (low-pass filtered noise) and a smooth
   illumination/thickness gradient.
4. **Optics.** Gaussian point-spread function of width ``psf_sigma_nm``.
5. **Detector.** Poisson counting at ``dose_e_per_px`` plus Gaussian read noise, stored as uint16 counts.

Everything is reproducible from ``seed``. Defaults come from ``resources/tem/defaults.toml``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from qdlab.data.errors import InputError
from qdlab.data.types import Micrograph, Result
from qdlab.resources import load_toml


def synth_defaults() -> dict[str, float]:
    """Default synthesis parameters (values only) from ``resources/tem/defaults.toml``."""
    return {k: v["value"] for k, v in load_toml("tem/defaults.toml")["synth"].items()}


@dataclass(frozen=True, eq=False)
class GroundTruth(Result):
    """Exact ground truth of a synthetic micrograph.

    Attributes
    ----------
    x_px, y_px
        Particle centres in pixel coordinates (column, row; pixel centres at integers).
    diameter_nm
        True sphere diameters.
    touching
        True where the particle was placed in contact with another one.
    cut_by_border
        True where the projected disk extends beyond the image.
    nm_per_px
        Pixel size used.
    params
        All synthesis parameters (for the JSON sidecar).
    """

    x_px: NDArray[np.float64]
    y_px: NDArray[np.float64]
    diameter_nm: NDArray[np.float64]
    touching: NDArray[np.bool_]
    cut_by_border: NDArray[np.bool_]
    nm_per_px: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of particles drawn (including those cut by the border)."""
        return int(self.diameter_nm.size)

    def inside(self) -> NDArray[np.bool_]:
        """Mask of particles not cut by the border (the ones a sizing run should find)."""
        return ~self.cut_by_border

    def summary(self) -> dict[str, float]:
        """Mean and standard deviation (ddof=1) of the diameters of particles not cut by the border."""
        d = self.diameter_nm[self.inside()]
        return {
            "count": int(d.size),
            "mean_diameter_nm": float(d.mean()) if d.size else float("nan"),
            "std_diameter_nm": float(d.std(ddof=1)) if d.size > 1 else float("nan"),
        }


@dataclass(frozen=True, eq=False)
class SynthResult:
    """A synthetic micrograph and its ground truth."""

    micrograph: Micrograph
    truth: GroundTruth


def _draw_diameters(
    rng: np.random.Generator, count: int, mean_nm: float, std_nm: float, distribution: str
) -> NDArray[np.float64]:
    if distribution == "lognormal":
        s2 = math.log1p((std_nm / mean_nm) ** 2)
        return rng.lognormal(math.log(mean_nm) - s2 / 2, math.sqrt(s2), count)
    d = rng.normal(mean_nm, std_nm, count)
    low = 0.4 * mean_nm
    bad = d < low
    while bad.any():  # truncate the normal at 40 % of the mean by redrawing
        d[bad] = rng.normal(mean_nm, std_nm, int(bad.sum()))
        bad = d < low
    return d


def _place(
    rng: np.random.Generator,
    radii_px: NDArray[np.float64],
    n_touch: int,
    size_px: tuple[int, int],
    gap_min_px: float,
    gap_max_px: float,
    isolation_px: float,
    max_tries: int = 2000,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Rejection-sample centres; the first ``n_touch`` particles come in contact pairs/chains."""
    ny, nx = size_px
    n = radii_px.size
    xs = np.full(n, np.nan)
    ys = np.full(n, np.nan)
    touching = np.zeros(n, dtype=bool)
    placed: list[int] = []
    touch_ids = list(range(n_touch))
    # contact pairs: particle 2k+1 touches 2k; an odd leftover touches a random earlier touching one
    for i in range(n):
        partner = None
        if i < n_touch:
            if i % 2 == 1:
                partner = i - 1
            elif i == n_touch - 1 and i > 0:
                partner = int(rng.choice(touch_ids[:i]))
        for _ in range(max_tries):
            if partner is not None and not np.isnan(xs[partner]):
                dist = radii_px[i] + radii_px[partner] + rng.uniform(gap_min_px, gap_max_px)
                phi = rng.uniform(0, 2 * math.pi)
                x = xs[partner] + dist * math.cos(phi)
                y = ys[partner] + dist * math.sin(phi)
                if not (0 <= x < nx and 0 <= y < ny):
                    continue
                others = [j for j in placed if j != partner]
            else:
                x = rng.uniform(0, nx)
                y = rng.uniform(0, ny)
                others = placed
            if others:
                idx = np.asarray(others)
                d = np.hypot(xs[idx] - x, ys[idx] - y) - radii_px[idx] - radii_px[i]
                if (d < isolation_px).any():
                    continue
            xs[i], ys[i] = x, y
            placed.append(i)
            if partner is not None:
                touching[i] = touching[partner] = True
            break
        else:
            raise InputError(
                f"could not place {n} particles without overlap after {max_tries} tries each; "
                "lower --count or the diameter, or enlarge the image",
                field="count",
            )
    return xs, ys, touching


def _thickness_map(
    shape: tuple[int, int], xs: NDArray[np.float64], ys: NDArray[np.float64], radii_px: NDArray[np.float64], nm_per_px: float
) -> NDArray[np.float64]:
    """Projected thickness (nm) of all spheres, summed where they overlap, sampled at pixel centres.

    Each pixel is supersampled 3 x 3 so that the partial-volume edge of the disk is exact to ~1 %.
    """
    ny, nx = shape
    t = np.zeros(shape, dtype=np.float64)
    sub = (np.arange(3) - 1) / 3.0
    for x, y, r in zip(xs, ys, radii_px, strict=True):
        x0, x1 = max(math.floor(x - r) - 1, 0), min(math.ceil(x + r) + 2, nx)
        y0, y1 = max(math.floor(y - r) - 1, 0), min(math.ceil(y + r) + 2, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        yy = np.arange(y0, y1)[:, None, None, None] + sub[None, None, :, None]
        xx = np.arange(x0, x1)[None, :, None, None] + sub[None, None, None, :]
        rho2 = (xx - x) ** 2 + (yy - y) ** 2
        tt = 2.0 * np.sqrt(np.clip(r * r - rho2, 0.0, None)) * nm_per_px
        t[y0:y1, x0:x1] += tt.mean(axis=(2, 3))
    return t


def synth_micrograph(
    *,
    count: int | None = None,
    mean_diameter_nm: float | None = None,
    std_diameter_nm: float | None = None,
    size_px: int | tuple[int, int] | None = None,
    nm_per_px: float | None = None,
    touching_fraction: float | None = None,
    distribution: Literal["normal", "lognormal"] = "normal",
    dose_e_per_px: float | None = None,
    psf_sigma_nm: float | None = None,
    mean_free_path_nm: float | None = None,
    carbon_texture_rel: float | None = None,
    background_gradient_rel: float | None = None,
    dark_particles: bool = True,
    seed: int | None = 0,
) -> SynthResult:
    """Render a synthetic bright-field micrograph of spherical QDs with exact ground truth.

    Parameters
    ----------
    count
        Number of particles (centres uniform over the field; some are cut by the border).
    mean_diameter_nm, std_diameter_nm
        Diameter distribution (normal truncated at 40 % of the mean, or ``lognormal``).
    size_px
        Image side (square) or ``(rows, columns)``.
    nm_per_px
        Pixel size.
    touching_fraction
        Fraction of particles placed in contact (gap -0.3 to +0.1 nm by default) with another one.
    distribution
        ``"normal"`` or ``"lognormal"``.
    dose_e_per_px
        Mean electron dose on bare film; sets the Poisson noise.
    psf_sigma_nm
        Gaussian blur of the optics.
    mean_free_path_nm
        Mass-thickness contrast length: ``I = I0 exp(-t / lambda)``.
    carbon_texture_rel, background_gradient_rel
        Relative rms texture of the carbon film and peak-to-peak illumination gradient.
    dark_particles
        ``True`` for bright field (dark dots); ``False`` inverts to a HAADF-like image (bright dots).
    seed
        Random seed (``None``: fresh entropy).

    Returns
    -------
    SynthResult
        ``micrograph`` (uint16 counts, calibrated) and ``truth`` (:class:`GroundTruth`).

    Examples
    --------
    >>> res = synth_micrograph(count=10, size_px=128, mean_diameter_nm=3.0, std_diameter_nm=0.3, seed=1)
    >>> res.micrograph.shape, res.truth.count
    ((128, 128), 10)
    """
    p = synth_defaults()
    count = int(p["count"] if count is None else count)
    mean_d = float(p["mean_diameter_nm"] if mean_diameter_nm is None else mean_diameter_nm)
    std_d = float(p["std_diameter_nm"] if std_diameter_nm is None else std_diameter_nm)
    size = int(p["size_px"]) if size_px is None else size_px
    shape = (size, size) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))  # type: ignore[index]
    px = float(p["nm_per_px"] if nm_per_px is None else nm_per_px)
    touch = float(p["touching_fraction"] if touching_fraction is None else touching_fraction)
    dose = float(p["dose_e_per_px"] if dose_e_per_px is None else dose_e_per_px)
    psf = float(p["psf_sigma_nm"] if psf_sigma_nm is None else psf_sigma_nm)
    mfp = float(p["mean_free_path_nm"] if mean_free_path_nm is None else mean_free_path_nm)
    tex = float(p["carbon_texture_rel"] if carbon_texture_rel is None else carbon_texture_rel)
    grad = float(p["background_gradient_rel"] if background_gradient_rel is None else background_gradient_rel)
    checks = {
        "count": count >= 0,
        "mean_diameter_nm": mean_d > 0,
        "std_diameter_nm": std_d >= 0,
        "nm_per_px": px > 0,
        "size_px": min(shape) >= 8,
        "touching_fraction": 0.0 <= touch <= 1.0,
        "dose_e_per_px": dose > 0,
        "psf_sigma_nm": psf >= 0,
        "mean_free_path_nm": mfp > 0,
        "carbon_texture_rel": 0 <= tex < 0.5,
        "background_gradient_rel": 0 <= grad < 1,
    }
    for name, ok in checks.items():
        if not ok:
            raise InputError("out of range", field=name)
    if distribution not in ("normal", "lognormal"):
        raise InputError(f"expected 'normal' or 'lognormal', got {distribution!r}", field="distribution")
    if mean_d / px < 4:
        raise InputError(f"mean diameter {mean_d} nm is under 4 px at {px} nm/px", field="mean_diameter_nm")

    rng = np.random.default_rng(seed)
    diam = _draw_diameters(rng, count, mean_d, std_d, distribution)
    radii_px = diam / (2 * px)
    n_touch = round(touch * count)
    xs, ys, touching = _place(
        rng, radii_px, n_touch, shape,
        p["contact_gap_min_nm"] / px, p["contact_gap_max_nm"] / px, p["isolation_gap_nm"] / px,
    )
    ny, nx = shape
    # pixel centres are at integer coordinates; the image covers [-0.5, n - 0.5]
    cut = (xs - radii_px < -0.5) | (xs + radii_px > nx - 0.5) | (ys - radii_px < -0.5) | (ys + radii_px > ny - 0.5)

    thickness = _thickness_map(shape, xs, ys, radii_px, px)
    # support film: smooth gradient + amorphous-carbon texture (unit-variance low-pass noise)
    yy, xx = np.mgrid[0:ny, 0:nx]
    phi = rng.uniform(0, 2 * math.pi)
    ramp = (np.cos(phi) * (xx / max(nx - 1, 1) - 0.5) + np.sin(phi) * (yy / max(ny - 1, 1) - 0.5))
    i0 = 1.0 + grad * ramp
    if tex > 0:
        # Gaussian-filtered white noise: a filter sigma of L / (2.355 sqrt 2) gives an autocorrelation FWHM of L
        sig_tex = p["carbon_texture_length_nm"] / (2 * math.sqrt(2 * math.log(2)) * math.sqrt(2)) / px
        noise = ndi.gaussian_filter(rng.standard_normal(shape), sig_tex)
        noise /= noise.std() or 1.0
        i0 = i0 * (1.0 + tex * noise)
    intensity = i0 * np.exp(-thickness / mfp)
    if not dark_particles:  # HAADF-like: signal grows with thickness on a dim background
        intensity = 0.2 * i0 + (1.0 - np.exp(-thickness / mfp)) * 4.0
    if psf > 0:
        intensity = ndi.gaussian_filter(intensity, psf / px)
    counts = rng.poisson(np.clip(intensity, 0, None) * dose).astype(np.float64)
    counts += rng.normal(0.0, p["read_noise_e"], shape)
    image = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)

    params = {
        "count": count, "mean_diameter_nm": mean_d, "std_diameter_nm": std_d, "size_px": list(shape),
        "nm_per_px": px, "touching_fraction": touch, "distribution": distribution, "dose_e_per_px": dose,
        "psf_sigma_nm": psf, "mean_free_path_nm": mfp, "carbon_texture_rel": tex,
        "background_gradient_rel": grad, "dark_particles": dark_particles, "seed": seed,
        "contact_gap_min_nm": p["contact_gap_min_nm"], "contact_gap_max_nm": p["contact_gap_max_nm"],
        "isolation_gap_nm": p["isolation_gap_nm"], "read_noise_e": p["read_noise_e"],
        "carbon_texture_length_nm": p["carbon_texture_length_nm"],
    }
    truth = GroundTruth(
        x_px=xs, y_px=ys, diameter_nm=diam, touching=touching, cut_by_border=cut, nm_per_px=px, params=params
    )
    meta = {"source": "qdlab.tem.synth", "synth": params}
    return SynthResult(micrograph=Micrograph(image=image, nm_per_px=(px, px), meta=meta), truth=truth)


def write_ground_truth(truth: GroundTruth, path: str | Path) -> tuple[Path, Path]:
    """Write the ground truth beside an image: ``<stem>.truth.csv`` (one row per particle) and ``.truth.json``.

    Parameters
    ----------
    truth
        From :func:`synth_micrograph`.
    path
        The image path (``OUT.tif``); the sidecars share its stem.

    Returns
    -------
    tuple of Path
        The CSV and JSON paths.
    """
    path = Path(path)
    stem = path.with_suffix("")
    csv_path = stem.with_name(stem.name + ".truth.csv")
    json_path = stem.with_name(stem.name + ".truth.json")
    px = truth.nm_per_px
    lines = ["id,x_px,y_px,x_nm,y_nm,diameter_nm,touching,cut_by_border"]
    for i, (x, y, d, t, c) in enumerate(
        zip(truth.x_px, truth.y_px, truth.diameter_nm, truth.touching, truth.cut_by_border, strict=True)
    ):
        lines.append(f"{i},{x:.4f},{y:.4f},{x * px:.5f},{y * px:.5f},{d:.5f},{int(t)},{int(c)}")
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    doc = {"image": path.name, "csv": csv_path.name, "params": truth.params, "summary": truth.summary(),
           "touching_count": int(truth.touching.sum()), "cut_by_border_count": int(truth.cut_by_border.sum())}
    json_path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return csv_path, json_path


def read_ground_truth(path: str | Path) -> GroundTruth:
    """Read a ``.truth.csv`` (and its ``.truth.json`` if present) written by :func:`write_ground_truth`."""
    path = Path(path)
    if path.suffix != ".csv":
        stem = path.with_suffix("")
        path = stem.with_name(stem.name + ".truth.csv")
    arr = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    arr = np.atleast_1d(arr)
    jpath = path.with_name(path.name[: -len(".csv")] + ".json")
    params = json.loads(jpath.read_text(encoding="utf-8"))["params"] if jpath.exists() else {}
    px = float(arr["x_nm"][0] / arr["x_px"][0]) if arr.size and arr["x_px"][0] else float(params.get("nm_per_px", 1))
    if "nm_per_px" in params:
        px = float(params["nm_per_px"])
    return GroundTruth(
        x_px=np.asarray(arr["x_px"], float), y_px=np.asarray(arr["y_px"], float),
        diameter_nm=np.asarray(arr["diameter_nm"], float), touching=np.asarray(arr["touching"]).astype(bool),
        cut_by_border=np.asarray(arr["cut_by_border"]).astype(bool), nm_per_px=px, params=params,
    )


__all__ = ["GroundTruth", "SynthResult", "synth_micrograph", "synth_defaults", "write_ground_truth",
           "read_ground_truth"]
