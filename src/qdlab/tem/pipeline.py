"""One-call sizing of a micrograph file (picklable, so that an executor can size many images in parallel)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    paths: list[str | Path], options: dict[str, Any] | None = None, *,
    map_fn: Callable[[Callable[[Any], ImageSizing], Iterable[Any]], Iterable[ImageSizing]] = map,
) -> list[ImageSizing]:
    """:func:`size_image` over several files, in input order.

    ``map_fn`` is a ``map``-like callable that runs the picklable per-file function: the built-in ``map``
    (serial, default) or an executor's, e.g. :func:`qdlab.compute.mapper` for local processes or Dask.
    """
    items = [(str(p), dict(options or {})) for p in paths]
    return list(map_fn(_size_item, items))


__all__ = ["ImageSizing", "size_image", "size_images"]
