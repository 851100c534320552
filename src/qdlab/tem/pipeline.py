"""One-call sizing of a micrograph file (picklable, so that ``qdlab.compute`` can run many images in parallel)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdlab.data.types import Result
from qdlab.tem.io import read_micrograph
from qdlab.tem.measure import ParticleTable, measure_particles


@dataclass(frozen=True, eq=False)
class ImageSizing(Result):
    """Particles measured in one file, with the file's calibration and provenance.

    Attributes
    ----------
    path
        The file.
    nm_per_px, shape_px
        Calibration ``(y, x)`` and image shape.
    meta
        Reader metadata (sha256, format, calibration source...).
    table
        The per-particle table.
    """

    path: str
    nm_per_px: tuple[float, float]
    shape_px: tuple[int, int]
    meta: dict[str, Any] = field(default_factory=dict)
    table: ParticleTable | None = None


def size_image(path: str | Path, options: dict[str, Any] | None = None) -> ImageSizing:
    """Read ``path`` and measure its particles.

    Parameters
    ----------
    path
        Micrograph file (see :func:`~qdlab.tem.io.read_micrograph`).
    options
        ``nm_per_px`` for the reader; everything else goes to :func:`~qdlab.tem.measure.measure_particles`
        (and through it to :func:`~qdlab.tem.segment.segment_particles`).
    """
    opts = dict(options or {})
    mic = read_micrograph(path, nm_per_px=opts.pop("nm_per_px", None))
    table = measure_particles(mic, **opts)
    return ImageSizing(path=str(path), nm_per_px=mic.nm_per_px, shape_px=mic.shape, meta=dict(mic.meta), table=table)


def _size_item(item: tuple[str, dict[str, Any]]) -> ImageSizing:
    return size_image(item[0], item[1])


def size_images(
    paths: list[str | Path], options: dict[str, Any] | None = None, scheduler: Any = None
) -> list[ImageSizing]:
    """:func:`size_image` over several files through :func:`qdlab.compute.map_progress` (in input order).

    One file runs in this process; several run on the executor that ``scheduler`` selects (local processes by
    default, ``"serial"``, or a Dask address).
    """
    if len(paths) == 1:
        return [size_image(paths[0], options)]
    from qdlab.compute import map_progress

    items = [(str(p), dict(options or {})) for p in paths]
    return map_progress(_size_item, items, scheduler=scheduler or "local", description="sizing particles")


__all__ = ["ImageSizing", "size_image", "size_images"]
