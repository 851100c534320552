"""Size-distribution statistics: N, mean, standard deviation, standard error, confidence interval, lognormal fit.

The paper quotes TEM means only (3.4 -> 5.0, 2.7 -> 4.4, 4.1 -> 5.0 nm). qdlab reports what makes a mean
defensible: the count, the sample standard deviation (ddof = 1), the standard error and a Student-t 95 %
confidence interval of the mean, the median, and a maximum-likelihood lognormal fit (``scipy.stats.lognorm``
with the location fixed at zero) whose ``mu``/``sigma`` are those of ``ln d``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import Result


@dataclass(frozen=True, eq=False)
class SizeDistribution(Result):
    """Statistics of a set of particle diameters.

    Attributes
    ----------
    count
        N.
    mean_diameter_nm, std_diameter_nm, sem_diameter_nm
        Mean, sample standard deviation (ddof = 1) and standard error of the mean.
    ci95_diameter_nm
        Student-t 95 % confidence interval of the mean.
    median_diameter_nm, min_diameter_nm, max_diameter_nm
        Order statistics.
    relative_std
        ``std / mean`` (the "size dispersion" quoted for QD batches).
    lognormal_mu, lognormal_sigma
        Maximum-likelihood parameters of ``ln d`` (``nan`` for fewer than 2 particles).
    lognormal_median_nm, lognormal_mean_nm
        ``exp(mu)`` and ``exp(mu + sigma^2 / 2)``.
    histogram_edges_nm, histogram_counts
        Histogram with Freedman-Diaconis bins (at least 5).
    diameters_nm
        The diameters (sorted as given).
    edge_corrected_mean_diameter_nm, edge_corrected_std_diameter_nm
        Miles-Lantuejoul weighted statistics (only with ``field_nm``): a particle of diameter ``d`` survives the
        border exclusion of an ``Ly x Lx`` field with probability ``(Ly - d)(Lx - d) / (Ly Lx)``, so weighting
        each by the inverse removes the bias against large particles.
    """

    count: int
    mean_diameter_nm: float
    std_diameter_nm: float
    sem_diameter_nm: float
    ci95_diameter_nm: tuple[float, float]
    median_diameter_nm: float
    min_diameter_nm: float
    max_diameter_nm: float
    relative_std: float
    lognormal_mu: float
    lognormal_sigma: float
    lognormal_median_nm: float
    lognormal_mean_nm: float
    histogram_edges_nm: NDArray[np.float64]
    histogram_counts: NDArray[np.int64]
    diameters_nm: NDArray[np.float64]
    edge_corrected_mean_diameter_nm: float = float("nan")
    edge_corrected_std_diameter_nm: float = float("nan")


def edge_weights(diameters_nm: ArrayLike, field_nm: tuple[float, float]) -> NDArray[np.float64]:
    """Miles-Lantuejoul weights ``Ly Lx / ((Ly - d)(Lx - d))`` for particles measured with border exclusion.

    Examples
    --------
    >>> edge_weights([0.0, 50.0], (100.0, 100.0)).tolist()
    [1.0, 4.0]
    """
    d = np.asarray(diameters_nm, dtype=np.float64)
    ly, lx = (float(v) for v in field_nm)
    if ly <= 0 or lx <= 0:
        raise InputError("the field must have a positive size", field="field_nm")
    if (d >= min(ly, lx)).any():
        raise InputError("a particle is as large as the field: no edge correction possible", field="field_nm")
    return ly * lx / ((ly - d) * (lx - d))


def size_distribution(
    diameters_nm: ArrayLike, bins: int | None = None, field_nm: tuple[float, float] | None = None
) -> SizeDistribution:
    """Summarise particle diameters.

    Parameters
    ----------
    diameters_nm
        Diameters (nm); non-finite values are an error.
    bins
        Number of histogram bins (default: Freedman-Diaconis, at least 5).
    field_nm
        Size ``(Ly, Lx)`` of the field the particles were measured in with border exclusion; adds the
        Miles-Lantuejoul edge-corrected mean and standard deviation.

    Examples
    --------
    >>> s = size_distribution([3.0, 3.4, 3.8])
    >>> s.count, round(s.mean_diameter_nm, 3), round(s.std_diameter_nm, 3), round(s.sem_diameter_nm, 4)
    (3, 3.4, 0.4, 0.2309)
    """
    from scipy import stats

    d = np.asarray(diameters_nm, dtype=np.float64).ravel()
    if not np.isfinite(d).all():
        raise InputError("diameters must be finite", field="diameters_nm")
    if (d <= 0).any():
        raise InputError("diameters must be positive", field="diameters_nm")
    n = int(d.size)
    nan = float("nan")
    if n == 0:
        return SizeDistribution(0, nan, nan, nan, (nan, nan), nan, nan, nan, nan, nan, nan, nan, nan,
                                np.empty(0), np.empty(0, np.int64), d)
    mean = float(d.mean())
    std = float(d.std(ddof=1)) if n > 1 else nan
    sem = std / math.sqrt(n) if n > 1 else nan
    if n > 1:
        t = float(stats.t.ppf(0.975, n - 1))
        ci = (mean - t * sem, mean + t * sem)
    else:
        ci = (nan, nan)
    if n > 1 and np.ptp(d) > 0:
        logd = np.log(d)
        mu = float(logd.mean())  # MLE of lognorm with loc = 0 (closed form, identical to lognorm.fit(floc=0))
        sig = float(logd.std(ddof=0))
    else:
        mu, sig = (float(np.log(d).mean()), 0.0) if n else (nan, nan)
    if bins is None:
        iqr = float(np.subtract(*np.percentile(d, [75, 25])))
        width = 2 * iqr / n ** (1 / 3) if iqr > 0 else 0.0
        bins = max(5, min(100, math.ceil(np.ptp(d) / width))) if width > 0 else 5
    counts, edges = np.histogram(d, bins=bins)
    ec_mean = ec_std = nan
    if field_nm is not None:
        w = edge_weights(d, field_nm)
        ec_mean = float(np.average(d, weights=w))
        if n > 1:
            v1, v2 = w.sum(), (w * w).sum()
            ec_std = math.sqrt(float((w * (d - ec_mean) ** 2).sum()) / (v1 - v2 / v1))  # reliability weights
    return SizeDistribution(
        count=n, mean_diameter_nm=mean, std_diameter_nm=std, sem_diameter_nm=sem, ci95_diameter_nm=ci,
        median_diameter_nm=float(np.median(d)), min_diameter_nm=float(d.min()), max_diameter_nm=float(d.max()),
        relative_std=std / mean if n > 1 else nan, lognormal_mu=mu, lognormal_sigma=sig,
        lognormal_median_nm=math.exp(mu), lognormal_mean_nm=math.exp(mu + sig * sig / 2),
        histogram_edges_nm=edges, histogram_counts=counts.astype(np.int64), diameters_nm=d,
        edge_corrected_mean_diameter_nm=ec_mean, edge_corrected_std_diameter_nm=ec_std,
    )


__all__ = ["SizeDistribution", "size_distribution", "edge_weights"]
