"""Score a sizing run against synthetic ground truth (recall, precision, size bias)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from qdlab.data.types import Result
from qdlab.tem.synth import GroundTruth


@dataclass(frozen=True, eq=False)
class Score(Result):
    """Agreement of measured particles with the ground truth (particles not cut by the border).

    Attributes
    ----------
    n_true, n_found, n_matched
        Ground-truth particles inside the field, accepted detections, one-to-one matches.
    recall, precision
        ``n_matched / n_true`` and ``n_matched / n_found``.
    mean_true_nm, mean_found_nm, std_true_nm, std_found_nm
        Distribution statistics (ddof = 1) of all true inside particles and all accepted detections.
    mean_error_rel, std_error_rel
        Relative errors of the mean and of the spread.
    matched_rms_error_nm
        RMS diameter error over matched pairs.
    """

    n_true: int
    n_found: int
    n_matched: int
    recall: float
    precision: float
    mean_true_nm: float
    mean_found_nm: float
    std_true_nm: float
    std_found_nm: float
    mean_error_rel: float
    std_error_rel: float
    matched_rms_error_nm: float


def match_to_truth(
    x_px: NDArray, y_px: NDArray, truth: GroundTruth, max_distance_px: float | None = None
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """One-to-one matching (Hungarian) of detections to true centres within ``max_distance_px``.

    The default cut-off is half the smallest true radius. Returns index arrays ``(found_idx, truth_idx)``.
    """
    if max_distance_px is None:
        max_distance_px = 0.5 * float(truth.diameter_nm.min()) / (2 * truth.nm_per_px) if truth.count else 1.0
    pts = np.column_stack([x_px, y_px])
    tp = np.column_stack([truth.x_px, truth.y_px])
    if len(pts) == 0 or len(tp) == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    tree = cKDTree(tp)
    pairs = tree.query_ball_point(pts, max_distance_px)
    rows, cols, dist = [], [], []
    for i, js in enumerate(pairs):
        for j in js:
            rows.append(i)
            cols.append(j)
            dist.append(np.hypot(*(pts[i] - tp[j])))
    if not rows:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    ur, ri = np.unique(rows, return_inverse=True)
    uc, ci = np.unique(cols, return_inverse=True)
    cost = np.full((ur.size, uc.size), 1e9)
    cost[ri, ci] = dist
    a, b = linear_sum_assignment(cost)
    ok = cost[a, b] < 1e9
    return ur[a[ok]].astype(np.intp), uc[b[ok]].astype(np.intp)


def score(x_px: NDArray, y_px: NDArray, diameter_nm: NDArray, truth: GroundTruth) -> Score:
    """Recall/precision on particles not cut by the border, and the errors of mean and spread.

    Detections matched to a particle cut by the border count neither as true nor as false positives.

    Examples
    --------
    >>> from qdlab.tem.synth import synth_micrograph
    >>> t = synth_micrograph(count=5, size_px=128, mean_diameter_nm=3.0, std_diameter_nm=0.3, seed=0).truth
    >>> s = score(t.x_px, t.y_px, t.diameter_nm, t)
    >>> s.recall, s.precision, s.mean_error_rel
    (1.0, 1.0, 0.0)
    """
    x_px, y_px, dia = (np.asarray(a, float) for a in (x_px, y_px, diameter_nm))
    fi, ti = match_to_truth(x_px, y_px, truth)
    inside = truth.inside()
    to_cut = ~inside[ti]
    found_ok = np.ones(x_px.size, bool)
    found_ok[fi[to_cut]] = False
    fi_in, ti_in = fi[~to_cut], ti[~to_cut]
    n_true = int(inside.sum())
    n_found = int(found_ok.sum())
    n_m = int(fi_in.size)
    dt = truth.diameter_nm[inside]
    df = dia[found_ok]
    mt, mf = float(dt.mean()), float(df.mean()) if df.size else float("nan")
    st = float(dt.std(ddof=1)) if dt.size > 1 else float("nan")
    sf = float(df.std(ddof=1)) if df.size > 1 else float("nan")
    err = dia[fi_in] - truth.diameter_nm[ti_in]
    return Score(
        n_true=n_true, n_found=n_found, n_matched=n_m,
        recall=n_m / n_true if n_true else float("nan"), precision=n_m / n_found if n_found else float("nan"),
        mean_true_nm=mt, mean_found_nm=mf, std_true_nm=st, std_found_nm=sf,
        mean_error_rel=(mf - mt) / mt, std_error_rel=(sf - st) / st if st else float("nan"),
        matched_rms_error_nm=float(np.sqrt(np.mean(err**2))) if err.size else float("nan"),
    )


__all__ = ["Score", "match_to_truth", "score"]
