"""Array baselines on pybaselines, with the defaults qdlab uses for spectra."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError

#: methods accepted by :func:`estimate_baseline` (``none`` and ``linear`` are qdlab's; the rest pybaselines')
BASELINE_METHODS = ("none", "linear", "modpoly", "imodpoly", "asls", "arpls", "airpls", "snip", "rubberband", "tophat")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "modpoly": {"poly_order": 1},
    "imodpoly": {"poly_order": 1},
    "asls": {"lam": 1e6},
    "arpls": {"lam": 1e6},
    "airpls": {"lam": 1e6},
}


def estimate_baseline(y: ArrayLike, x: ArrayLike | None = None, method: str = "modpoly", **kwargs: Any) -> NDArray[np.float64]:
    """Baseline of ``y`` (optionally on the axis ``x``) with pybaselines ``Baseline(x).<method>(y)``.

    ``"linear"`` is a straight line through the medians of the first and last 5 % of the points;
    ``"none"`` is zeros. ``snip`` defaults to a half window of a tenth of the points, ``tophat`` to a
    twentieth; ``modpoly``/``imodpoly`` to a line, the penalised least-squares methods to ``lam = 1e6``.

    Examples
    --------
    >>> x = np.linspace(0, 10, 501)
    >>> y = 2 + 0.5 * x + 10 * np.exp(-0.5 * ((x - 5) / 0.2) ** 2)
    >>> b = estimate_baseline(y, x, "modpoly")
    >>> bool(abs(b[0] - 2) < 0.05 and abs(b[-1] - 7) < 0.05)
    True
    """
    yy = np.asarray(y, dtype=float)
    xx = np.arange(yy.size, dtype=float) if x is None else np.asarray(x, dtype=float)
    if method == "none":
        return np.zeros_like(yy)
    if method == "linear":
        k = max(3, xx.size // 20)
        x0, y0 = xx[:k].mean(), np.median(yy[:k])
        x1, y1 = xx[-k:].mean(), np.median(yy[-k:])
        return y0 + (y1 - y0) * (xx - x0) / (x1 - x0)
    if method not in BASELINE_METHODS:
        raise InputError(f"unknown baseline {method!r}; expected one of {', '.join(BASELINE_METHODS)}", field="baseline")
    from pybaselines import Baseline

    defaults = dict(_DEFAULTS.get(method, {}))
    if method == "snip":
        defaults = {"max_half_window": max(5, yy.size // 10)}
    elif method == "tophat":
        defaults = {"half_window": max(2, yy.size // 20), "pad_kwargs": {"mode": "edge"}}
    base, _params = getattr(Baseline(x_data=xx), method)(yy, **{**defaults, **kwargs})
    return np.asarray(base, dtype=float)


__all__ = ["BASELINE_METHODS", "estimate_baseline"]
