"""Emission model of the twin: PL quantum yield per aliquot from radiative and trap channels.

The twin's kinetics say nothing about brightness. This module turns what the twin computes per aliquot
into a PLQY with a few fitted constants (``resources/twin/emission.toml``)::

    QY_k  = k_r / (k_r + k_nr) = 1 / (1 + rho_k)
    rho_k = rho_0 (d_0 / d_k)^n  +  a_g g_k  +  a_e e_k  +  a_s f_k

* ``rho_0 = 1 / QY_0 - 1``: the seeds' own trap-to-radiative ratio, from their measured QY (an input: the
  twin cannot know how well the seeds were made);
* ``d_k``: volume-weighted mean diameter of the seed-born QDs (``SizeDistribution.secondary == False``);
  traps on the surface, emission from the volume, so the trap channel scales with ``(d_0/d_k)^n``
  (``n = 1``: surface/volume of a sphere);
* ``g_k``: growth rate of ``d`` over the interval before aliquot ``k`` (nm/min, shrinkage counted as 0):
  fast growth builds in defects;
* ``e_k``: the seeds' acid-etch rate ``k_et [OA] etch_factor`` averaged over the same interval (nm/min),
  with ``[OA]`` from the twin's records: etching damages the surface;
* ``f_k``: ``Aliquot.secondary_mass_fraction``: secondary QDs absorb but, small and spread out, hardly
  emit in the SWIR window.

The MSC fraction is not a term: the twin keeps it below 1 % of the Cd3P2 in every aliquot, far below what
four batches can resolve. Every coefficient is bounded at 0 from below (a trap channel cannot add light),
so more etching, faster growth or more secondary material never raise the QY.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qdlab.fit import FitResult, Model, Parameter, fit
from qdlab.resources import load_toml
from qdlab.twin.kernel import R_NOA, R_T, R_V
from qdlab.twin.solver import TwinResult, simulate

OVERGROWTHS: tuple[str, ...] = ("overgrowth-965nm", "overgrowth-1010nm", "overgrowth-1102nm", "overgrowth-1145nm")
PARAMETER_NAMES: tuple[str, ...] = ("surface_exponent", "growth_coefficient_min_per_nm",
                                    "etch_coefficient_min_per_nm", "secondary_coefficient")


@dataclass(frozen=True)
class EmissionFeatures:
    """What the emission model reads from one twin run, one entry per aliquot.

    Attributes
    ----------
    scenario : str
        Scenario name.
    time_min : ndarray
        Aliquot times (min).
    seed_diameter_nm : ndarray
        Volume-weighted mean diameter of the seed-born QDs (nm).
    growth_nm_per_min : ndarray
        Growth rate of ``seed_diameter_nm`` over the interval before the aliquot, shrinkage as 0 (nm/min);
        0 for the first aliquot.
    etch_nm_per_min : ndarray
        Mean acid-etch rate of the seed surfaces over the same interval (nm/min); 0 for the first aliquot.
    secondary_mass_fraction : ndarray
        Share of the QDs' Cd3P2 held by secondary QDs (1).
    cluster_fraction : ndarray
        Share of the Cd3P2 in MSCs (1); reported, not used by the model.
    pl_peak_nm : ndarray
        The twin's PL peak (nm).
    """

    scenario: str
    time_min: NDArray[np.float64]
    seed_diameter_nm: NDArray[np.float64]
    growth_nm_per_min: NDArray[np.float64]
    etch_nm_per_min: NDArray[np.float64]
    secondary_mass_fraction: NDArray[np.float64]
    cluster_fraction: NDArray[np.float64]
    pl_peak_nm: NDArray[np.float64]


@dataclass(frozen=True)
class PaperQY:
    """Table 2 of the paper for one overgrowth: PLQYs (%) and the brightest aliquot's index."""

    qy_initial_pct: float
    qy_brightest_pct: float
    qy_final_pct: float
    brightest_aliquot: int
    brightest_nm: float


def emission_config() -> dict:
    """The package data ``resources/twin/emission.toml`` (fitted values with units and sources, paper data)."""
    return load_toml("twin/emission.toml")


def default_parameters() -> dict[str, float]:
    """The fitted parameter values shipped in ``emission.toml``, by name (units in the names)."""
    cfg = emission_config()["fitted"]
    return {k: float(cfg[k]["value"]) for k in PARAMETER_NAMES}


def paper_qy(name: str) -> PaperQY:
    """Table 2 values of the overgrowth ``name`` (as stored in ``emission.toml``)."""
    row = emission_config()["paper"][name]
    return PaperQY(float(row["qy_initial_pct"]), float(row["qy_brightest_pct"]), float(row["qy_final_pct"]),
                   int(row["brightest_aliquot"]), float(row["brightest_nm"]))


def features(result: TwinResult | str) -> EmissionFeatures:
    """Per-aliquot inputs of the emission model from a twin run (or a scenario name, simulated).

    Parameters
    ----------
    result
        A :class:`~qdlab.twin.solver.TwinResult`, or a scenario name passed to ``simulate``.

    Returns
    -------
    EmissionFeatures
    """
    res = simulate(result) if isinstance(result, str) else result
    sc = res.scenario
    rec = np.asarray(res.records, dtype=float)
    t_min = rec[:, R_T] / 60.0
    d = np.empty(len(res.size_distributions))
    for k, sd in enumerate(res.size_distributions):
        seed = ~np.asarray(sd.secondary, dtype=bool)
        w = np.asarray(sd.number_mol, dtype=float)[seed] * np.asarray(sd.diameter_nm, dtype=float)[seed] ** 3
        d[k] = float(np.sum(w * sd.diameter_nm[seed]) / np.sum(w)) if np.sum(w) > 0 else np.nan
    dt = np.diff(t_min)
    growth = np.zeros_like(d)
    growth[1:] = np.clip(np.diff(d) / dt, 0.0, None)
    etch_factor = sc.seeds.surface.etch_factor if sc.seeds is not None else 0.0
    k_et = sc.kinetic_parameters().etch_rate_nm_per_s_per_m * etch_factor * 60.0  # nm/min per mol/L
    oa_m = rec[:, R_NOA] / rec[:, R_V]
    etch = np.zeros_like(d)
    etch[1:] = k_et * 0.5 * (oa_m[1:] + oa_m[:-1])
    return EmissionFeatures(
        scenario=sc.name, time_min=t_min, seed_diameter_nm=d, growth_nm_per_min=growth, etch_nm_per_min=etch,
        secondary_mass_fraction=np.array([a.secondary_mass_fraction for a in res.aliquots], dtype=float),
        cluster_fraction=np.array([a.cluster_fraction for a in res.aliquots], dtype=float),
        pl_peak_nm=np.array([a.pl_peak_nm for a in res.aliquots], dtype=float))


def quantum_yield(feat: EmissionFeatures, qy_initial: float, params: Mapping[str, float] | None = None
                  ) -> NDArray[np.float64]:
    """PLQY (fraction, 0-1) of every aliquot.

    Parameters
    ----------
    feat
        The run's :class:`EmissionFeatures`.
    qy_initial
        Measured QY of the seeds (fraction, 0 < qy_initial <= 1); the first aliquot returns it exactly.
    params
        Model parameters by name (:data:`PARAMETER_NAMES`); default: the fitted values in ``emission.toml``.

    Returns
    -------
    ndarray
        QY per aliquot, in (0, 1].
    """
    if not 0.0 < qy_initial <= 1.0:
        raise ValueError(f"qy_initial must be in (0, 1], got {qy_initial}")
    p = default_parameters() if params is None else {**default_parameters(), **params}
    for name in PARAMETER_NAMES[1:]:
        if p[name] < 0:
            raise ValueError(f"{name} must be >= 0 (a trap channel cannot add light), got {p[name]}")
    rho0 = 1.0 / qy_initial - 1.0
    d = feat.seed_diameter_nm
    rho = (rho0 * (d[0] / d) ** p["surface_exponent"]
           + p["growth_coefficient_min_per_nm"] * feat.growth_nm_per_min
           + p["etch_coefficient_min_per_nm"] * feat.etch_nm_per_min
           + p["secondary_coefficient"] * feat.secondary_mass_fraction)
    return 1.0 / (1.0 + rho)


def brightest_aliquot(qy: NDArray[np.float64]) -> int:
    """Index of the brightest aliquot (highest QY; the earliest on ties)."""
    return int(np.argmax(np.asarray(qy)))


@dataclass(frozen=True)
class EmissionFit:
    """A fit of the emission model: the :class:`~qdlab.fit.FitResult` and the batches it was fitted on."""

    result: FitResult
    batches: tuple[str, ...]

    @property
    def params(self) -> dict[str, float]:
        """Fitted values by name."""
        return {n: float(self.result[n]) for n in PARAMETER_NAMES}

    @property
    def errors(self) -> dict[str, float]:
        """Standard errors by name (NaN or inf where the data do not determine the parameter)."""
        return {n: float(self.result.err(n)) for n in PARAMETER_NAMES}


# starting points of the fit (surface exponent, growth, etch, secondary coefficients)
_STARTS = ((1.0, 1.0, 1.0, 1.0), (3.0, 10.0, 10.0, 0.3), (0.5, 30.0, 0.1, 3.0))


def _targets(batches: Sequence[str]) -> tuple[list[tuple[int, int]], list[float]]:
    """(batch index, aliquot index) and paper QY (%) of every informative Table-2 entry.

    The initial QY is an input (its residual is identically 0) and is skipped, as is a brightest entry at
    the first aliquot (965 nm: brightest = initial).
    """
    rows: list[tuple[int, int]] = []
    ys: list[float] = []
    for b, name in enumerate(batches):
        pq = paper_qy(name)
        if pq.brightest_aliquot != 0:
            rows.append((b, pq.brightest_aliquot))
            ys.append(pq.qy_brightest_pct)
        rows.append((b, -1))
        ys.append(pq.qy_final_pct)
    return rows, ys


def fit_emission(batches: Sequence[str] = OVERGROWTHS, feats: Mapping[str, EmissionFeatures] | None = None,
                 start: Mapping[str, float] | None = None) -> EmissionFit:
    """Least-squares fit of the emission parameters to Table 2 (``qdlab.fit``; residuals in QY percent).

    The data are each batch's brightest QY at the paper's brightest aliquot and its final QY (A10), with
    the measured initial QY as input. Standard errors: ``(J^T J)^+ RSS / (N - k)`` (qdlab.fit).

    Parameters
    ----------
    batches
        Overgrowth scenario names to fit.
    feats
        Precomputed :func:`features` by name (default: simulated).
    start
        One starting point (default: a fixed set of starting points, independent of the shipped values).

    Returns
    -------
    EmissionFit
    """
    batches = tuple(batches)
    fs = [feats[b] if feats is not None else features(b) for b in batches]
    qy0 = [paper_qy(b).qy_initial_pct / 100.0 for b in batches]
    rows, ys = _targets(batches)

    def func(x: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        pd = dict(zip(PARAMETER_NAMES, p, strict=True))
        qys = [quantum_yield(f, q, pd) for f, q in zip(fs, qy0, strict=True)]
        return np.array([100.0 * qys[rows[int(i)][0]][rows[int(i)][1]] for i in x])

    cfg = emission_config()["fitted"]
    starts = [dict(start)] if start is not None else [
        dict(zip(PARAMETER_NAMES, s0, strict=True)) for s0 in _STARTS]
    model = Model(func, PARAMETER_NAMES, name="emission")
    best: FitResult | None = None
    for s in starts:  # fixed starting points (deterministic); the lowest residual sum of squares wins
        params = [Parameter(n, s[n], min=float(cfg[n]["min"]), max=float(cfg[n]["max"]), unit=str(cfg[n]["unit"]))
                  for n in PARAMETER_NAMES]
        res = fit(model, np.arange(len(ys), dtype=float), np.array(ys), params, max_nfev=5000)
        if best is None or res.rss < best.rss - 1e-9:
            best = res
    assert best is not None
    return EmissionFit(best, batches)


__all__ = ["OVERGROWTHS", "PARAMETER_NAMES", "EmissionFeatures", "EmissionFit", "PaperQY", "brightest_aliquot",
           "default_parameters", "emission_config", "features", "fit_emission", "paper_qy", "quantum_yield"]
