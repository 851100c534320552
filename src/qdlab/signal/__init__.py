"""The signal core: what every domain measures on a 1-D signal, written once.

* :mod:`qdlab.signal.peaks` — peaks with prominence and their own bases, widths at any relative height,
  centroids bounded by each peak's own region (``scipy.signal`` underneath);
* :mod:`qdlab.signal.noise` — robust noise of a signal and of its derivatives (white or slowly varying
  signals);
* :mod:`qdlab.signal.baseline` — array baselines (pybaselines);
* :mod:`qdlab.signal.masks` — saturated and non-finite points, reported, never silently used.

Core layer: numpy, scipy and pybaselines only.
"""

from qdlab.signal.baseline import BASELINE_METHODS, estimate_baseline
from qdlab.signal.masks import describe_mask, saturated
from qdlab.signal.noise import derivative_sigma, local_sigma, mad_sigma
from qdlab.signal.peaks import (
    Peaks,
    Widths,
    centroids,
    find_peaks,
    half_max_width,
    local_maxima,
    parabolic_apex,
    valleys,
    widths,
)

__all__ = [
    "BASELINE_METHODS",
    "Peaks",
    "Widths",
    "centroids",
    "derivative_sigma",
    "describe_mask",
    "estimate_baseline",
    "find_peaks",
    "half_max_width",
    "local_maxima",
    "local_sigma",
    "mad_sigma",
    "parabolic_apex",
    "saturated",
    "valleys",
    "widths",
]
