"""Twin runs for the dashboard: overrides checked in a chemist's words, results kept, spectra in compact form.

The live ``/twin`` page and ``POST /api/twin/run`` both go through :func:`checked_scenario` and
:class:`TwinRuns`: a value the twin cannot use is refused with an :class:`~qdlab.data.errors.InputError`
naming the override's dotted path (HTTP 400, one line, never a 500 with a traceback), and a run with the
same scenario and overrides is computed once and kept (the live page asks again for values it has seen
every time a chemist types back and forth).

The page's boxes map onto overrides (:data:`TWIN_FIELDS`); anything else a scenario accepts goes into the
"more overrides" box, one ``dotted.path = value`` per line (:func:`parse_more`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from qdlab.data.errors import InputError, QdlabError

#: form box -> (override path, label, unit, example, plausible range); outside the range is warned, not refused
TWIN_FIELDS: dict[str, tuple[str, str, str, str, tuple[float, float]]] = {
    "rate_ml_per_h": ("protocol.injection_rate_ml_per_h", "injection rate", "mL/h", "8", (0.1, 50.0)),
    "feed_volume_ml": ("feed.volume_ml", "cluster feed volume", "mL", "12", (0.5, 100.0)),
    "temperature_c": ("protocol.temperature_c", "temperature", "°C", "180", (80.0, 320.0)),
    "duration_min": ("protocol.duration_min", "duration", "min", "60", (1.0, 600.0)),
    "etch_factor": ("seeds.surface.etch_factor", "seed etch factor", "", "2.6", (0.01, 100.0)),
    "reactivity_factor": ("seeds.surface.reactivity_factor", "seed reactivity factor", "", "1.1", (0.01, 100.0)),
}
#: override path -> form box
PATH_TO_BOX: dict[str, str] = {path: box for box, (path, *_rest) in TWIN_FIELDS.items()}
#: overrides that must be more than 0 (the twin divides by them); the models only ask for >= 0
POSITIVE_PATHS: frozenset[str] = frozenset({"seeds.surface.reactivity_factor", "protocol.duration_min"})
#: significant digits of the spectra sent to the browser
SPECTRA_DIGITS = 4

_log = logging.getLogger("qdlab.web")


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def _lookup(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _number(value: Any, path: str) -> float:
    """``value`` as a finite number for the override ``path``, else an InputError naming it in words."""
    box = PATH_TO_BOX.get(path)
    label, unit, example = (TWIN_FIELDS[box][1], TWIN_FIELDS[box][2], TWIN_FIELDS[box][3]) if box else (path, "", "1")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"{label} must be a number{' in ' + unit if unit else ''}, e.g. {example}; got {value!r}",
                         field=path)
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"{label} must be a number{' in ' + unit if unit else ''}, e.g. {example}; "
                             f"“{text}” is not a number", field=path) from None
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{label} must be a finite number, got {value}", field=path)
    if path in POSITIVE_PATHS and value <= 0:
        raise InputError(f"{label} must be more than 0{_unit(unit)}, got {value:g}", field=path)
    return value


def checked_scenario(name: str, overrides: dict[str, Any]) -> Any:
    """The built-in scenario ``name`` with ``overrides`` applied, or an InputError naming the bad field.

    Parameters
    ----------
    name
        A built-in scenario (:func:`qdlab.twin.list_scenarios`).
    overrides
        Dotted-path overrides as :meth:`qdlab.twin.Scenario.with_overrides` takes them; a value for a number
        may be given as text ("4,5" and "4.5" both work).

    Returns
    -------
    qdlab.twin.Scenario
        The validated scenario.

    Raises
    ------
    InputError
        Unknown scenario (field ``scenario``), or an override the scenario does not accept (field: its path).
    """
    from qdlab.twin import list_scenarios, load_scenario

    if name not in list_scenarios():
        raise InputError(f"unknown scenario {name!r}; built-in: {', '.join(list_scenarios())}", field="scenario")
    base = load_scenario(name)
    if not overrides:
        return base
    current = base.model_dump()
    clean: dict[str, Any] = {}
    for path, value in overrides.items():
        if not path or any(not part for part in path.split(".")):
            raise InputError("an override is a dotted path such as protocol.injection_rate_ml_per_h",
                             field=path or "overrides")
        now = _lookup(current, path)
        numeric = path in PATH_TO_BOX or path.split(".")[0] in ("params", "optics") or (
            isinstance(now, int | float) and not isinstance(now, bool))
        clean[path] = _number(value, path) if numeric else value
    try:
        return base.with_overrides(clean)
    except QdlabError:
        raise
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:  # a value the models' checks let through
        culprit = next(iter(clean)) if len(clean) == 1 else None
        raise InputError(f"cannot apply the overrides ({exc})", field=culprit or ", ".join(clean)) from None


def plausibility(overrides: dict[str, Any], duration_min: float | None,
                 scenario_rate_ml_per_h: float | None) -> list[dict[str, str]]:
    """Warnings, ``{"field": path, "message": ...}``, for numbers that are possible but unusual.

    An injection rate far from a syringe-pump addition is worded with the volume it would pour into the
    flask over the run (``duration_min``).
    """
    out: list[dict[str, str]] = []
    for path, value in overrides.items():
        box = PATH_TO_BOX.get(path)
        if box is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        _, label, unit, _, (lo, hi) = TWIN_FIELDS[box]
        if lo <= value <= hi:
            continue
        if box == "rate_ml_per_h" and duration_min:
            base = f" (this scenario: {scenario_rate_ml_per_h:g} mL/h)" if scenario_rate_ml_per_h else ""
            msg = (f"An injection rate of {value:g} mL/h is implausible for a dropwise precursor addition{base}: over "
                   f"the {duration_min:g} min run it would add {value * duration_min / 60.0:.3g} mL to the flask. "
                   "Check the unit (mL per hour).")
        else:
            msg = f"{label} {value:g}{_unit(unit)} is unusual (usually {lo:g}–{hi:g}{_unit(unit)}); check the unit."
        out.append({"field": path, "message": msg})
    return out


def parse_more(text: str) -> dict[str, Any]:
    """The "more overrides" box: one ``dotted.path = value`` per line (``#`` starts a comment).

    A value is read as JSON where it is JSON (numbers, ``true``, lists), else kept as text.

    Examples
    --------
    >>> parse_more("params.k_growth = 2e-3\\n# note\\nprotocol.aliquot_times_min = [0, 30, 60]")
    {'params.k_growth': 0.002, 'protocol.aliquot_times_min': [0, 30, 60]}
    """
    out: dict[str, Any] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        path, eq, value = line.partition("=")
        path, value = path.strip(), value.strip()
        if not eq or not path or not value:
            raise InputError(f"line {n}: write one override per line as dotted.path = value, e.g. "
                             f"params.k_growth = 0.002; got “{line}”", field="more")
        try:
            out[path] = json.loads(value)
        except ValueError:
            out[path] = value
    return out


def form_overrides(typed: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Overrides from the page's boxes (empty: the scenario's own value) and errors per box.

    Returns
    -------
    overrides, errors
        ``{path: value}`` (numbers still as typed text; :func:`checked_scenario` reads them) and
        ``{box: message}`` for the "more overrides" box when it cannot be read.
    """
    overrides: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for box, (path, *_rest) in TWIN_FIELDS.items():
        text = (typed.get(box) or "").strip()
        if text:
            overrides[path] = text
    try:
        more = parse_more(typed.get("more") or "")
    except InputError as exc:
        errors["more"] = str(exc)
        more = {}
    for path, value in more.items():
        if path in PATH_TO_BOX and path in overrides:
            errors["more"] = f"{path} is already set in its own box above; give it once"
        overrides[path] = value
    return overrides, errors


def scenario_defaults(name: str) -> dict[str, float | None]:
    """The scenario's own value of every box (what an empty box means)."""
    from qdlab.twin import load_scenario

    data = load_scenario(name).model_dump()
    return {box: _lookup(data, path) for box, (path, *_rest) in TWIN_FIELDS.items()}


def _round_sig(values: Any, digits: int = SPECTRA_DIGITS) -> list[float]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    out = np.zeros_like(v)
    nz = np.isfinite(v) & (v != 0)
    mag = np.floor(np.log10(np.abs(v[nz])))
    scale = 10.0 ** (digits - 1 - mag)
    out[nz] = np.round(v[nz] * scale) / scale
    return [float(f"{x:.{digits}g}") for x in out]


def compact_spectra(result: Any) -> dict[str, Any]:
    """The PL of every aliquot in the scenario's detector window: one wavelength grid, rounded intensities.

    Returns
    -------
    dict
        ``wavelength_nm`` (the grid, once, 0.01 nm), ``aliquots`` (ids), ``time_min``, ``intensity`` (one list
        per aliquot, per nm, 4 significant digits, not normalised), ``window_nm`` (``None``: whole grid).
    """
    import numpy as np

    window = result.scenario.observation.pl_window_nm
    lo, hi = window or (-np.inf, np.inf)
    first = result.pl[0].to_wavelength() if result.pl else None
    if first is None:
        return {"wavelength_nm": [], "aliquots": [], "time_min": [], "intensity": [], "window_nm": window}
    keep = (first.x >= lo) & (first.x <= hi)
    grid = first.x[keep]
    curves = []
    for spec in result.pl:
        s = spec.to_wavelength()
        y = s.y[(s.x >= lo) & (s.x <= hi)] if np.array_equal(s.x, first.x) else np.interp(grid, s.x, s.y)
        curves.append(_round_sig(y))
    return {"wavelength_nm": [round(float(x), 2) for x in grid],
            "aliquots": [a.aliquot_id for a in result.aliquots],
            "time_min": [float(a.time_min) for a in result.aliquots],
            "intensity": curves, "window_nm": list(window) if window else None}


@dataclass
class TwinRun:
    """One finished run: the twin's result object and its JSON answer (``to_dict`` plus ``pl_spectra``)."""

    result: Any
    payload: dict[str, Any] = field(repr=False)


class TwinRuns:
    """Twin runs kept by (scenario, overrides); concurrent asks for the same run wait for the first one.

    Examples
    --------
    >>> runs = TwinRuns(keep=2)
    >>> runs.key("overgrowth-1010nm", {"protocol.injection_rate_ml_per_h": 4.0})
    ('overgrowth-1010nm', '{"protocol.injection_rate_ml_per_h": 4.0}')
    """

    def __init__(self, keep: int = 32) -> None:
        self.keep = keep
        self._data: OrderedDict[tuple[str, str], TwinRun] = OrderedDict()
        self._pending: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(name: str, overrides: dict[str, Any]) -> tuple[str, str]:
        """The cache key of a run: the scenario and its overrides as canonical JSON."""
        return name, json.dumps(overrides, sort_keys=True, default=str)

    def run(self, name: str, overrides: dict[str, Any]) -> TwinRun:
        """Run (or fetch) scenario ``name`` with ``overrides``; InputError for a value the twin cannot use."""
        from qdlab.twin import load_scenario

        scenario = checked_scenario(name, overrides)  # refusals first: never kept, never block others
        warnings = plausibility(overrides_as_numbers(overrides), scenario.protocol.duration_min,
                                load_scenario(name).protocol.injection_rate_ml_per_h)
        key = self.key(name, overrides)
        while True:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    return self._data[key]
                pending = self._pending.get(key)
                if pending is None:
                    pending = self._pending[key] = threading.Event()
                    break
            pending.wait(300)
        try:
            value = self._simulate(scenario, overrides, warnings)
            with self._lock:
                self._data[key] = value
                while len(self._data) > self.keep:
                    self._data.popitem(last=False)
        finally:
            with self._lock:
                self._pending.pop(key, None)
            pending.set()
        return value

    @staticmethod
    def _simulate(scenario: Any, overrides: dict[str, Any], warnings: list[dict[str, str]]) -> TwinRun:
        from qdlab.data.types import to_jsonable
        from qdlab.twin import simulate

        try:
            result = simulate(scenario)
        except QdlabError:
            raise
        except (ArithmeticError, ValueError, FloatingPointError) as exc:  # the solver gave up on these values
            _log.warning("twin run of %s with %s failed: %r", scenario.name, overrides, exc)
            fields = ", ".join(overrides) or None
            raise InputError(f"the twin cannot simulate these values ({type(exc).__name__}: {exc}); "
                             "change the values named", field=fields) from None
        payload = to_jsonable(result.to_dict())
        payload["pl_spectra"] = compact_spectra(result)
        payload["warnings"] = warnings
        return TwinRun(result, payload)


def overrides_as_numbers(overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides with the boxes' numbers read (text such as "4,5" as 4.5), for :func:`plausibility`."""
    out: dict[str, Any] = {}
    for path, value in overrides.items():
        try:
            out[path] = _number(value, path) if path in PATH_TO_BOX else value
        except InputError:
            out[path] = value
    return out


__all__ = ["TWIN_FIELDS", "PATH_TO_BOX", "checked_scenario", "plausibility", "parse_more", "form_overrides",
           "scenario_defaults", "overrides_as_numbers", "compact_spectra", "TwinRun", "TwinRuns"]
