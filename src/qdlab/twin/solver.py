"""``simulate(scenario) -> TwinResult``: the primary (Lagrangian size-class) solver of the twin.

Seeds are sampled from a Gaussian size distribution (from their PL peak through the sizing curve,
and their PL linewidth after removing the homogeneous width) onto ``n_classes`` equally spaced
characteristic classes; the compiled stepper (:mod:`qdlab.twin.kernel`) then moves every class along
its characteristic, adds classes for new nuclei and removes dissolved ones, returning their mass.

Examples
--------
>>> res = simulate("overgrowth-1010nm")
>>> res.aliquots[0].aliquot_id, round(res.aliquots[0].pl_peak_nm)
('A0', 1010)
>>> res.mass_balance_error < 1e-8
True
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError, ModelError
from qdlab.data.types import SpectrumSeries
from qdlab.materials import curve_for, get_material
from qdlab.spectra.band import summarize_band
from qdlab.twin.kernel import (
    N_REC,
    N_X,
    R_FED,
    R_LOST,
    R_NC,
    R_NM,
    R_NP,
    R_QD,
    R_S,
    R_T,
    R_TEMP,
    R_V,
    R_WD,
    ST_MAX_STEPS,
    ST_POOL_FULL,
    ST_UNDERFLOW,
    X_FED,
    X_FEEDLEFT,
    X_LOST,
    X_NC,
    X_NM,
    X_NOA,
    X_NP,
    X_V,
    X_WD,
    run_kernel,
)
from qdlab.twin.model import pack_parameters
from qdlab.twin.observe import ENERGY_GRID_EV, Aliquot, qd_pl_energy, spectra_for, summarize, wavelength_peak_nm
from qdlab.twin.protocol import Scenario, load_scenario
from qdlab.twin.rosenbrock import method_table, run_kernel_rosenbrock
from qdlab.units import AVOGADRO_PER_MOL, FWHM_PER_SIGMA, HC_EV_NM

#: numerical defaults of the old fixed-step scheme (kept for :func:`evolve_closed` and the tests of it)
DT_MAX_S = 5.0
DR_MAX_NM = 0.01
MAX_NEW_CLASSES = 300
MAX_STEPS = 20000
#: largest step (s) of the Strang splitting as measured in ``docs/splitting.md`` (:meth:`SolverSettings.strang`): the
#: Lie default's 30-s cap is there for its first-order error; the Strang order reaches the same PL accuracy with
#: steps set by the error control alone, which exceed 30 s between aliquots
STRANG_DT_MAX_S = 120.0


@dataclass(frozen=True)
class SolverSettings:
    """Numerical settings of the Lagrangian solver, separate from the model parameters.

    The default integrator is the second-order linearly implicit ROS2 (:mod:`qdlab.twin.rosenbrock`: the
    whole model as one ODE system, no splitting, embedded error estimate); ``integrator="split"`` runs the
    first-order split stepper (:mod:`qdlab.twin.kernel`: step doubling), which also holds the fixed-step
    scheme, ``dr_max_nm`` and the Strang order (asking for any of them selects it). Either way the step is
    error-controlled on the scalar amounts, the nuclei born and every class radius; refining
    ``rtol``/``atol`` and the class resolution converges every reported quantity (``tools/convergence.py``,
    ``docs/convergence.md``; the two integrators against each other: ``docs/integrators.md``).

    Attributes
    ----------
    rtol
        Relative tolerance of the local error per step.
    atol
        Absolute tolerance of the amounts (precursor, MSC, monomer, units in nuclei) as a fraction of the
        run's Cd3P2 budget.
    atol_radius_nm
        Absolute tolerance of a class radius (nm).
    dt_max_s, dt_min_s, dt_init_s
        Largest step, the smallest the error control may ask for (below it: :class:`ModelError`), first try.
    dr_max_nm
        Optional extra limit on the radius change of the fastest surviving class per step (``None``: off).
    nucleus_class_dr_nm
        Class resolution of new nuclei: nuclei join the open nucleus class only while its radius is within
        this of theirs (volume-weighted merge), else a new class opens.
    nucleation_window_s
        Nucleus classes are cohorts of a fixed time grid of this spacing (s; ``None``: one cohort). With
        slow growth a class stays within ``nucleus_class_dr_nm`` of new nuclei for long, lumping nuclei of
        very different ages; the cohorts bound that, independently of where the steps fall.
    max_cohorts
        Most nucleus cohorts in one run: in a run longer than ``max_cohorts * nucleation_window_s`` the
        cohort spacing becomes ``duration / max_cohorts``, so that the class count (and the cost of a step)
        stays bounded in hour-long runs (a planner exploring slow rates); refined like the window.
    min_nucleation_per_s
        Slowest nucleation simulated, in nuclei per second in the whole flask (CNT from monomer and MSC
        coalescence alike; slower nucleation leaves the units where they are). Near ``S = 1`` CNT gives
        rates many orders of magnitude below one particle per run, and each step of such nucleation opened
        a size class holding a fraction of one particle. The default drops at most 43,200 nuclei in a 12-h
        run, against 1e17-1e18 particles in the paper's flasks; refined like the tolerances (``0``: off).
    seed_class_factor
        Multiplies the scenario's ``seeds.n_classes`` (the seed size resolution).
    class_pool
        Initial room for nucleus classes; when full the pool is grown x4 and the run repeated, up to
        ``max_classes`` (then :class:`ModelError`). Nuclei are never merged into other classes silently.
        Room is nearly free (the stepper loops over the classes in use, not the pool), while a full pool
        costs a rerun from t = 0: hence 4096 (slow hour-long injections the planner explores open >1,000).
    max_steps
        Most step attempts (accepted + rejected) before :class:`ModelError`.
    heun
        Second-order (Heun) characteristics inside each split step (split stepper only).
    adaptive
        ``False`` runs the split stepper's old fixed scheme (``dt = min(dt_max_s, dr_max_nm / max|dr/dt|)``, no error control).
    integrator
        ``"ros2"`` (default) or ``"split"`` (see above). ROS2 controls the monomer relative to the saturation
        amount (the supersaturation to ``rtol``), the split stepper relative to the run's budget.
    split_rtol
        ``rtol`` of the split stepper when :meth:`split` (or :meth:`strang`) selects it (``None``: ``rtol``). The
        first-order split stepper needs tighter tolerances than ROS2 for the same accuracy in some scenarios
        (cluster heating: 1e-4 against 1e-3); a scenario's ``[solver]`` table states both.
    splitting
        Split stepper only. ``"lie"`` (default): each step takes the feed and MSC processes, then the growth and nucleation.
        ``"strang"`` (experimental): MSC processes for half a step, growth for a step, MSC for half a step.
        The symmetric order has a smaller error constant for the PL (overgrowth-1010nm: as accurate in 95 steps
        as the Lie default in 433), but both parts are first order, so it is not second order overall, and the
        supersaturation recorded at an aliquot is 0.2-5 % off its converged value whatever the tolerance
        (``docs/splitting.md``, ``tools/splitting_study.py``). The error control then leaves out the monomer and
        the radius of classes that took nuclei in the step.
    """

    rtol: float = 5e-4
    atol: float = 1e-6
    atol_radius_nm: float = 5e-4
    dt_max_s: float = 30.0
    dt_min_s: float = 1e-9
    dt_init_s: float = 1e-3
    dr_max_nm: float | None = None
    nucleus_class_dr_nm: float = 0.02
    nucleation_window_s: float | None = 8.0
    max_cohorts: int = 128
    min_nucleation_per_s: float = 1.0
    seed_class_factor: float = 1.0
    class_pool: int = 4096
    max_classes: int = 100_000
    max_steps: int = 2_000_000
    heun: bool = True
    adaptive: bool = True
    splitting: Literal["lie", "strang"] = "lie"
    integrator: Literal["ros2", "split"] = "ros2"
    split_rtol: float | None = None

    def __post_init__(self) -> None:
        for name in ("rtol", "atol", "atol_radius_nm", "dt_max_s", "dt_min_s", "dt_init_s", "nucleus_class_dr_nm",
                     "seed_class_factor"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise InputError(f"solver setting {name} must be a positive finite number (got {v!r})", field=name)
        for name in ("dr_max_nm", "nucleation_window_s", "split_rtol"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise InputError(f"solver setting {name} must be positive or None (got {v!r})", field=name)
        if not (math.isfinite(self.min_nucleation_per_s) and self.min_nucleation_per_s >= 0):
            raise InputError("solver setting min_nucleation_per_s must be a finite number >= 0 "
                             f"(got {self.min_nucleation_per_s!r})", field="min_nucleation_per_s")
        if self.splitting not in ("lie", "strang"):
            raise InputError(f"solver setting splitting must be 'lie' or 'strang' (got {self.splitting!r})",
                             field="splitting")
        if self.integrator not in ("ros2", "split"):
            raise InputError(f"solver setting integrator must be 'ros2' or 'split' (got {self.integrator!r})",
                             field="integrator")
        if self.class_pool < 1 or self.max_steps < 1:
            raise InputError("solver settings class_pool and max_steps must be >= 1", field="class_pool")

    def strang(self) -> SolverSettings:
        """These settings with the Strang splitting and steps up to :data:`STRANG_DT_MAX_S` (what it is measured at)."""
        return dataclasses.replace(self.split(), splitting="strang", dt_max_s=max(self.dt_max_s, STRANG_DT_MAX_S))

    def split(self) -> SolverSettings:
        """These settings on the split stepper, at its own tolerance ``split_rtol`` where one is given."""
        return dataclasses.replace(self, integrator="split", rtol=self.split_rtol or self.rtol, split_rtol=None)

    @property
    def uses_split_stepper(self) -> bool:
        """Whether :func:`simulate` runs the split stepper: asked for, or implied by a setting only it has
        (the fixed-step scheme, ``dr_max_nm``, the Strang order)."""
        return (self.integrator == "split" or not self.adaptive or self.dr_max_nm is not None
                or self.splitting == "strang")

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> SolverSettings:
        """The defaults with the scenario's own ``[solver]`` table applied (what :func:`simulate` uses)."""
        return cls(**scenario.solver)

    def refined(self, factor: float = 4.0) -> SolverSettings:
        """Settings refined by ``factor``: tolerances and steps divided, class resolution multiplied."""
        return dataclasses.replace(
            self, rtol=self.rtol / factor, atol=self.atol / factor,
            split_rtol=None if self.split_rtol is None else self.split_rtol / factor, atol_radius_nm=self.atol_radius_nm / factor,
            dt_max_s=self.dt_max_s / factor, dt_init_s=self.dt_init_s / factor,
            dr_max_nm=None if self.dr_max_nm is None else self.dr_max_nm / factor,
            nucleus_class_dr_nm=self.nucleus_class_dr_nm / factor,
            nucleation_window_s=None if self.nucleation_window_s is None else self.nucleation_window_s / factor,
            seed_class_factor=self.seed_class_factor * factor, class_pool=int(self.class_pool * factor),
            max_cohorts=round(self.max_cohorts * factor), min_nucleation_per_s=self.min_nucleation_per_s / factor,
            max_steps=int(self.max_steps * factor))


@dataclass(frozen=True)
class SizeDistribution:
    """QD classes of one aliquot: diameters (nm), particle amounts (mol), secondary flags."""

    diameter_nm: NDArray[np.float64]
    number_mol: NDArray[np.float64]
    secondary: NDArray[np.bool_]

    def to_dict(self) -> dict[str, Any]:
        return {"diameter_nm": self.diameter_nm.tolist(), "number_mol": self.number_mol.tolist(),
                "secondary": self.secondary.tolist()}


@dataclass(frozen=True, eq=False)
class TwinResult:
    """Outcome of one simulation: per-aliquot summaries, size distributions and spectra."""

    scenario: Scenario
    aliquots: tuple[Aliquot, ...]
    size_distributions: tuple[SizeDistribution, ...]
    records: NDArray[np.float64]
    mass_balance_error: float
    steps: int
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _spectra(self) -> tuple[SpectrumSeries, SpectrumSeries]:
        if "pl" not in self._cache:
            optics = self.scenario.optical_parameters()
            vu = self.scenario.kinetic_parameters().unit_volume_nm3
            pls, abss = [], []
            for a, sd, rec in zip(self.aliquots, self.size_distributions, self.records, strict=True):
                meta = {"aliquot_id": a.aliquot_id, "time_min": a.time_min, "scenario": self.scenario.name}
                pl, ab, _ = spectra_for(sd.diameter_nm, sd.number_mol, rec[R_NC],
                                        optics, meta, vu)
                pls.append(pl)
                abss.append(ab)
            times = [a.time_min for a in self.aliquots]
            ids = [a.aliquot_id for a in self.aliquots]
            meta = {"scenario": self.scenario.name, "source": "qdlab.twin"}
            self._cache["pl"] = SpectrumSeries.from_spectra(pls, times, ids, meta)
            self._cache["absorbance"] = SpectrumSeries.from_spectra(abss, times, ids, meta)
        return self._cache["pl"], self._cache["absorbance"]

    @property
    def pl(self) -> SpectrumSeries:
        """PL spectra (wavelength axis, Jacobian applied), one per aliquot."""
        return self._spectra()[0]

    @property
    def absorbance(self) -> SpectrumSeries:
        """Absorbance spectra (wavelength axis), one per aliquot."""
        return self._spectra()[1]

    def to_dict(self) -> dict[str, Any]:
        """What ``qdlab twin run --json`` prints."""
        return {
            "scenario": self.scenario.name,
            "aliquots": [a.to_dict() for a in self.aliquots],
            "mass_balance_error": self.mass_balance_error,
            "steps": self.steps,
            "budget_mmol": self.budget_mmol(),
        }

    def budget_mmol(self) -> dict[str, float]:
        """Cd3P2 units in the last aliquot (mmol): precursor, MSC, monomer, QDs; withdrawn before it, etched (PH3), fed."""
        rec = self.records[-1] if len(self.records) else np.zeros(N_REC)
        return {"precursor": 1e3 * rec[R_NP], "clusters": 1e3 * rec[R_NC], "monomer": 1e3 * rec[R_NM],
                "qds": 1e3 * rec[R_QD], "withdrawn_before": 1e3 * rec[R_WD], "etched_lost": 1e3 * rec[R_LOST], "fed": 1e3 * rec[R_FED]}


def seed_classes(scenario: Scenario, n_classes: int | None = None,
                 class_factor: float = 1.0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Seed radii (nm) and particle amounts (mol) of a scenario's seeds (empty if none).

    The classes depend only on the seeds' size and amount (not their surface factors), the optical
    parameters and the unit volume; a calibration or a planner reruns the same seeds many times, so the
    last few results are kept (keyed by those inputs' values; copies are returned).
    """
    seeds = scenario.seeds
    if seeds is None:
        return np.zeros(0), np.zeros(0)
    optics = scenario.optical_parameters()
    kp = scenario.kinetic_parameters()
    key = (seeds.model_dump_json(exclude={"surface"}), optics.model_dump_json(), kp.unit_volume_nm3, n_classes,
           class_factor)
    r, number = _seed_classes_cached(key, seeds, optics, kp.unit_volume_nm3, n_classes, class_factor)
    return r.copy(), number.copy()


_SEED_CACHE: dict[tuple, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}


def _seed_classes_cached(key: tuple, seeds: Any, optics: Any, unit_volume_nm3: float, n_classes: int | None,
                         class_factor: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if key not in _SEED_CACHE:
        if len(_SEED_CACHE) >= 32:
            _SEED_CACHE.pop(next(iter(_SEED_CACHE), None), None)
        _SEED_CACHE[key] = _compute_seed_classes(seeds, optics, unit_volume_nm3, n_classes, class_factor)
    return _SEED_CACHE[key]


def _compute_seed_classes(seeds: Any, optics: Any, unit_volume_nm3: float, n_classes: int | None,
                          class_factor: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    curve = curve_for("Cd3P2")
    d0 = float(seeds.diameter_nm) if seeds.diameter_nm is not None else float(curve.diameter_from_emission_nm(seeds.emission_nm))
    if seeds.diameter_rsd is not None:
        sd = seeds.diameter_rsd * d0
    else:
        inh = seeds.fwhm_mev**2 - optics.homogeneous_fwhm_mev**2
        if inh <= 0:
            raise InputError(f"seed PL FWHM {seeds.fwhm_mev} meV is below the homogeneous linewidth "
                             f"{optics.homogeneous_fwhm_mev} meV", field="seeds.fwhm_mev")
        sd = math.sqrt(inh) / 1000 / FWHM_PER_SIGMA / abs(float(curve.slope_ev_per_nm(d0)))
    n = n_classes or max(1, round(seeds.n_classes * class_factor))
    total_units_mol = seeds.mass_mg * seeds.inorganic_fraction / 1000.0 / get_material("Cd3P2").formula_mass_da

    def classes(dm: float, sdev: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if n == 1 or sdev <= 0:
            d, w = np.array([dm]), np.array([1.0])
        else:
            d = np.linspace(max(dm - 4 * sdev, 0.6), dm + 4 * sdev, n)
            w = np.exp(-0.5 * ((d - dm) / sdev) ** 2)
        units_per = (math.pi / 6) * d**3 / unit_volume_nm3
        return d, w * total_units_mol / float((w * units_per).sum())

    d, number = classes(d0, sd)
    if seeds.emission_nm is not None:
        # the volume-weighted PL of a distribution peaks red of its mean size's emission: adjust the
        # mean (and the width, when given as a linewidth) so that the seeds' PL shows what was measured
        dm, sdev = d0, sd
        for _ in range(4):
            qd = qd_pl_energy(d, number, optics)
            e_shift = HC_EV_NM / seeds.emission_nm - HC_EV_NM / wavelength_peak_nm(qd)
            dm = float(curve.diameter_nm(float(curve.energy_ev(dm)) + e_shift))
            if seeds.fwhm_mev is not None and seeds.diameter_rsd is None:
                fw = summarize_band(ENERGY_GRID_EV, qd).fwhm_mev
                if np.isfinite(fw) and fw > optics.homogeneous_fwhm_mev:
                    sdev *= math.sqrt(max(seeds.fwhm_mev**2 - optics.homogeneous_fwhm_mev**2, 1.0)) / math.sqrt(
                        fw**2 - optics.homogeneous_fwhm_mev**2)
            d, number = classes(dm, sdev)
    return d / 2, number


def _initial_state(scenario: Scenario, capacity: int, class_factor: float = 1.0) -> dict[str, Any]:
    kp = scenario.kinetic_parameters()
    r_seed, n_seed = seed_classes(scenario, class_factor=class_factor)
    cap = len(r_seed) + capacity
    r = np.zeros(cap)
    nn = np.zeros(cap)
    origin = np.zeros(cap, dtype=np.int8)
    gmul = np.ones(cap)
    emul = np.ones(cap)
    birth = np.zeros(cap)
    r[: len(r_seed)] = r_seed
    nn[: len(r_seed)] = n_seed
    if scenario.seeds is not None:
        gmul[: len(r_seed)] = scenario.seeds.surface.reactivity_factor
        emul[: len(r_seed)] = scenario.seeds.surface.etch_factor
    x = np.zeros(N_X)
    rc = scenario.reactor
    x[X_V] = rc.volume_ml / 1000
    x[X_NP] = rc.precursor_mmol / 1000
    x[X_NC] = rc.cluster_mmol / 1000
    x[X_NOA] = rc.oleic_acid_mmol / 1000
    x[X_NM] = rc.monomer_mmol / 1000
    feed = scenario.feed
    feed_c = np.zeros(3)
    if feed is not None and feed.volume_ml > 0:
        v_l = feed.volume_ml / 1000
        units = feed.units_mmol / 1000
        feed_c[:] = (units * (1 - feed.cluster_fraction) / v_l, units * feed.cluster_fraction / v_l,
                     feed.oleic_acid_mmol / 1000 / v_l)
        x[X_FEEDLEFT] = v_l
    initial_units = x[X_NP] + x[X_NC] + x[X_NM] + float((nn * (4 / 3) * np.pi * r**3).sum()) / kp.unit_volume_nm3
    return {"r": r, "nn": nn, "origin": origin, "gmul": gmul, "emul": emul, "birth": birth, "x": x,
            "feed_c": feed_c, "n_init": len(r_seed), "initial_units": initial_units}


def _settings_from(settings: SolverSettings | None, sc: Scenario, kp: Any, **old: Any) -> SolverSettings:
    st = settings or SolverSettings.for_scenario(sc)
    repl = {k: v for k, v in old.items() if v is not None}
    if "max_new_classes" in repl:
        repl["class_pool"] = max(int(repl.pop("max_new_classes")), 1)
    if kp.nucleation_window_s is not None and "nucleation_window_s" not in repl:
        warnings.warn("params.nucleation_window_s is a solver setting now (SolverSettings.nucleation_window_s); "
                      "used as such for this run", DeprecationWarning, stacklevel=3)
        repl["nucleation_window_s"] = kp.nucleation_window_s
    return dataclasses.replace(st, **repl) if repl else st


def _run_with_pool(name: str, st: SolverSettings, make_state: Any, call: Any,
                   expected_classes: int = 0) -> tuple[dict[str, Any], int, tuple]:
    """Run the kernel, growing the class pool x4 (and rerunning) while it reports no free slot.

    The first pool holds ``expected_classes`` when that is larger than ``st.class_pool`` (a rerun costs a
    whole run: the overgrowths open about two nucleus classes per cohort window).
    """
    pool = min(max(st.class_pool, expected_classes), st.max_classes)
    while True:
        state = make_state(pool)
        steps, outs = call(state)
        if steps >= 0:
            return state, steps, outs
        if steps == -ST_POOL_FULL:
            if pool >= st.max_classes:
                raise ModelError(f"{name}: more than {st.max_classes} size classes needed for new nuclei; raise "
                                 "SolverSettings.max_classes or coarsen nucleus_class_dr_nm")
            pool = min(pool * 4, st.max_classes)
            continue
        if steps == -ST_MAX_STEPS:
            raise ModelError(f"{name}: more than {st.max_steps} solver steps at rtol={st.rtol:g}; "
                             "raise SolverSettings.max_steps or loosen the tolerance")
        if steps == -ST_UNDERFLOW:
            raise ModelError(f"{name}: the error control asked for a step below dt_min_s={st.dt_min_s:g} s "
                             "(stiff or singular regime)")
        raise ModelError(f"{name}: the solver stopped with status {steps}")


def simulate(scenario: Scenario | str | Path, settings: SolverSettings | None = None, *,
             dt_max_s: float | None = None, dr_max_nm: float | None = None, heun: bool | None = None,
             max_new_classes: int | None = None, spectra: bool | Literal["last"] = True,
             max_steps: int | None = None) -> TwinResult:
    """Run the twin on a scenario (object, built-in name or file).

    Parameters
    ----------
    scenario
        A :class:`~qdlab.twin.protocol.Scenario`, a built-in name (see :func:`list_scenarios`) or a file.
    settings
        Numerical settings (:class:`SolverSettings`: tolerances, step limits, class resolution); default
        ``SolverSettings()``. The keyword arguments below override the fields of the same meaning.
    dt_max_s, dr_max_nm, heun, max_steps
        Override ``SolverSettings.dt_max_s``, ``dr_max_nm``, ``heun``, ``max_steps`` (the step is still
        error-controlled; the results do not depend on these beyond the tolerance).
    max_new_classes
        Overrides ``SolverSettings.class_pool`` (initial room for nucleus classes; the pool grows when full).
    spectra
        Compute the QD PL used by the summary (peak, FWHM, bimodality); ``False`` leaves them NaN, ``"last"``
        computes them for the final aliquot only (the planner reads only the product: the other aliquots'
        withdrawals are simulated, their PL summaries are skipped).

    Raises
    ------
    ModelError
        When the solver cannot meet the tolerance (step below ``dt_min_s``, more than ``max_steps`` steps
        or ``max_classes`` classes) or the state turns non-finite or negative.
    """
    if spectra not in (True, False, "last"):
        raise InputError(f"spectra must be True, False or 'last', got {spectra!r}", field="spectra")
    sc = load_scenario(scenario)
    kp = sc.kinetic_parameters()
    st_ = _settings_from(settings, sc, kp, dt_max_s=dt_max_s, dr_max_nm=dr_max_nm, heun=heun,
                         max_new_classes=max_new_classes, max_steps=max_steps)
    p = pack_parameters(kp)
    prot = sc.protocol
    rate_t, rate_q_ml = prot.rate_table()
    temp_t, temp_k = prot.temperature_table()
    ali_t = np.asarray(prot.aliquot_times_min, float) * 60.0
    n_ali = ali_t.size
    dr_max = st_.dr_max_nm if st_.dr_max_nm is not None else (1e308 if st_.adaptive else DR_MAX_NM)
    duration_s = prot.duration_min * 60.0
    window = (max(st_.nucleation_window_s, duration_s / max(st_.max_cohorts, 1))
              if st_.nucleation_window_s is not None else 1e308)

    def make_state(pool: int) -> dict[str, Any]:
        return _initial_state(sc, pool, st_.seed_class_factor)

    def call(stt: dict[str, Any]) -> tuple[int, tuple]:
        cap = stt["r"].size
        outs = (np.zeros((n_ali, cap)), np.zeros((n_ali, cap)), np.zeros((n_ali, cap), dtype=np.int8),
                np.zeros((n_ali, N_REC)))
        dt_min = st_.dt_min_s if st_.adaptive else min(st_.dt_max_s, prot.duration_min * 60.0 / st_.max_steps)
        if not st_.uses_split_stepper:
            tab = method_table(st_.integrator)
            steps = run_kernel_rosenbrock(
                p, stt["r"], stt["nn"], stt["origin"], stt["gmul"], stt["emul"], stt["birth"], stt["n_init"], stt["x"],
                rate_t, rate_q_ml / 1000.0, temp_t, temp_k, stt["feed_c"], prot.duration_min * 60.0, ali_t,
                prot.aliquot_volume_ml / 1000.0, st_.dt_max_s, dt_min, st_.rtol, st_.atol, st_.atol_radius_nm,
                st_.dt_init_s, window, st_.nucleus_class_dr_nm, st_.max_steps,
                st_.min_nucleation_per_s / AVOGADRO_PER_MOL, *tab, *outs)
            return steps, outs
        steps = run_kernel(p, stt["r"], stt["nn"], stt["origin"], stt["gmul"], stt["emul"], stt["birth"],
                           stt["n_init"], stt["x"], rate_t, rate_q_ml / 1000.0, temp_t, temp_k, stt["feed_c"],
                           prot.duration_min * 60.0, ali_t, prot.aliquot_volume_ml / 1000.0, st_.dt_max_s, dr_max,
                           dt_min, st_.heun, -1.0, st_.adaptive, st_.rtol, st_.atol, st_.atol_radius_nm,
                           st_.dt_init_s, window, st_.nucleus_class_dr_nm, st_.max_steps, False,
                           st_.min_nucleation_per_s / AVOGADRO_PER_MOL, st_.splitting == "strang", *outs)
        return steps, outs

    # nucleus classes are cohorts of the window grid: about two per window when nucleation never stops
    cohorts = 0 if st_.nucleation_window_s is None else math.ceil(duration_s / window)
    st, steps, (out_r, out_n, out_o, out_rec) = _run_with_pool(repr(sc.name), st_, make_state, call,
                                                               expected_classes=2 * cohorts + 64)
    x = st["x"]
    vu = kp.unit_volume_nm3
    qd_end = float((st["nn"] * (4 / 3) * np.pi * st["r"] ** 3).sum()) / vu
    total_in = st["initial_units"] + x[X_FED]
    total_now = x[X_NP] + x[X_NC] + x[X_NM] + qd_end + x[X_WD] + x[X_LOST]
    err = abs(total_now - total_in) / total_in if total_in > 0 else 0.0
    if not np.isfinite(err):
        raise ModelError(f"the simulation of {sc.name!r} diverged (non-finite state)")
    if np.any(st["nn"] < 0) or x[X_NM] < 0 or x[X_NC] < 0 or x[X_NP] < 0:
        raise ModelError(f"negative amounts in {sc.name!r}: please report this scenario")
    optics = sc.optical_parameters()
    aliquots = []
    sds = []
    for k, aid in enumerate(prot.ids()):
        live = out_n[k] > 0
        d = 2 * out_r[k][live]
        num = out_n[k][live]
        sec = out_o[k][live] == 1
        rec = out_rec[k]
        want = (k == n_ali - 1) if spectra == "last" else bool(spectra)
        qd_e = qd_pl_energy(d, num, optics) if want else np.zeros(1)
        aliquots.append(summarize(aid, rec[R_T] / 60, rec[R_TEMP] - 273.15, rec[R_V] * 1000, d, num, sec, qd_e,
                                  rec[R_NC], rec[R_NM], rec[R_QD], rec[R_S], sc.observation.pl_window_nm,
                                  optics.tem_min_diameter_nm))
        sds.append(SizeDistribution(d, num, sec))
    return TwinResult(sc, tuple(aliquots), tuple(sds), out_rec, float(err), int(steps))





def evolve_closed(radius_nm: NDArray[np.float64], number_mol: NDArray[np.float64], params: Any, *,
                  temperature_c: float, times_s: NDArray[np.float64], volume_l: float = 1.0,
                  monomer_mol: float = 0.0, oleic_acid_mol: float = 0.0, fixed_supersaturation: float | None = None,
                  dt_max_s: float = DT_MAX_S, dr_max_nm: float = DR_MAX_NM, heun: bool = True,
                  max_new_classes: int = 0, settings: SolverSettings | None = None,
                  nucleation_at_fixed_s: bool = False) -> dict[str, NDArray[np.float64]]:
    """Evolve bare size classes in a closed flask (no feed): the limiting cases of the tests and benchmarks.

    Without ``settings`` the old fixed scheme runs (``dt = min(dt_max_s, dr_max_nm / max|dr/dt|)``, no
    error control: the order-of-accuracy tests need it); with ``settings`` the error-controlled one.
    ``nucleation_at_fixed_s`` lets CNT nuclei form at the frozen supersaturation (infinite reservoir).

    Returns ``{"time_s", "radius_nm" (n_t, n), "number_mol" (n_t, n), "secondary" (n_t, n),
    "monomer_mol", "supersaturation", "steps", "nuclei_mol"}``; with ``fixed_supersaturation`` the
    monomer is an infinite reservoir at that ``S``. ``nuclei_mol`` is the cumulative amount of nuclei born.
    """
    from qdlab.twin.kernel import R_NM, R_S, R_STEPS, X_NUC
    from qdlab.twin.parameters import KineticParameters

    kp = params if isinstance(params, KineticParameters) else KineticParameters(**params)
    p = pack_parameters(kp)
    st_ = settings or SolverSettings(dt_max_s=dt_max_s, dr_max_nm=dr_max_nm, heun=heun, adaptive=False,
                                     class_pool=max(max_new_classes, 1), max_steps=10**9)
    r0 = np.asarray(radius_nm, float)
    ts = np.asarray(times_s, float)
    fs = -1.0 if fixed_supersaturation is None else float(fixed_supersaturation)
    window = st_.nucleation_window_s if st_.nucleation_window_s is not None else 1e308
    dr_max = st_.dr_max_nm if st_.dr_max_nm is not None else 1e308

    def make_state(pool: int) -> dict[str, Any]:
        cap = r0.size + pool
        r = np.zeros(cap)
        nn = np.zeros(cap)
        r[: r0.size] = r0
        nn[: r0.size] = np.asarray(number_mol, float)
        x = np.zeros(N_X)
        x[X_V] = volume_l
        x[X_NM] = monomer_mol
        x[X_NOA] = oleic_acid_mol
        return {"r": r, "nn": nn, "origin": np.zeros(cap, dtype=np.int8), "x": x}

    def call(stt: dict[str, Any]) -> tuple[int, tuple]:
        cap = stt["r"].size
        outs = (np.zeros((ts.size, cap)), np.zeros((ts.size, cap)), np.zeros((ts.size, cap), dtype=np.int8),
                np.zeros((ts.size, N_REC)))
        steps = run_kernel(p, stt["r"], stt["nn"], stt["origin"], np.ones(cap), np.ones(cap), np.zeros(cap), r0.size,
                           stt["x"], np.array([0.0]), np.array([0.0]), np.array([0.0]),
                           np.array([temperature_c + 273.15]), np.zeros(3), float(ts[-1]), ts, 0.0, st_.dt_max_s,
                           dr_max, 1e-12 if not st_.adaptive else st_.dt_min_s, st_.heun, fs, st_.adaptive, st_.rtol,
                           st_.atol, st_.atol_radius_nm, st_.dt_init_s, window, st_.nucleus_class_dr_nm,
                           st_.max_steps, nucleation_at_fixed_s,
                           st_.min_nucleation_per_s / AVOGADRO_PER_MOL if settings is not None else 0.0,
                           st_.splitting == "strang", *outs)
        return steps, outs

    stt, _steps, (out_r, out_n, out_o, out_rec) = _run_with_pool("evolve_closed", st_, make_state, call)
    return {"time_s": ts, "radius_nm": out_r, "number_mol": out_n, "secondary": out_o == 1,
            "monomer_mol": out_rec[:, R_NM], "supersaturation": out_rec[:, R_S], "steps": out_rec[:, R_STEPS],
            "nuclei_mol": np.array([stt["x"][X_NUC]])}


__all__ = ["STRANG_DT_MAX_S", "SizeDistribution", "SolverSettings", "TwinResult", "evolve_closed", "seed_classes", "simulate"]
