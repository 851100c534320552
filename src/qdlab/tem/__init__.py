"""TEM particle sizing for 2-10 nm quantum dots.

Public API::

    from qdlab.tem import (read_micrograph, segment_particles, measure_particles, size_distribution,
                           synth_micrograph, write_tiff)

Pipeline: :func:`read_micrograph` (calibrated :class:`~qdlab.data.types.Micrograph`) ->
:func:`segment_particles` (background, local threshold, seeded watershed) -> :func:`measure_particles`
(edge fit, Feret, circularity, filters) -> :func:`size_distribution` (N, mean, std, SEM, lognormal).
:func:`synth_micrograph` renders realistic synthetic micrographs with exact ground truth.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "read_micrograph": "qdlab.tem.io",
    "write_tiff": "qdlab.tem.io",
    "segment_particles": "qdlab.tem.segment",
    "Segmentation": "qdlab.tem.segment",
    "measure_particles": "qdlab.tem.measure",
    "ParticleTable": "qdlab.tem.measure",
    "size_distribution": "qdlab.tem.stats",
    "SizeDistribution": "qdlab.tem.stats",
    "synth_micrograph": "qdlab.tem.synth",
    "GroundTruth": "qdlab.tem.synth",
    "score": "qdlab.tem.evaluate",
    "size_image": "qdlab.tem.pipeline",
    "size_images": "qdlab.tem.pipeline",
    "overlay_figure": "qdlab.tem.plot",
    "histogram_figure": "qdlab.tem.plot",
}


def __getattr__(name: str) -> Any:  # lazy: keep `import qdlab.tem` light (scikit-image loads on use)
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qdlab.tem' has no attribute {name!r}")


__all__ = list(_EXPORTS)
