"""Measured outcomes from the experiment record: ``qdlab campaign tell --from-run EXPERIMENT_ID``.

``qdlab run`` stores each experiment with a summary whose ``aliquots`` rows carry the PL peak, FWHM
and PLQY per aliquot (:mod:`qdlab.workflow.record`). The campaign outcome is the **last aliquot with
a PL peak** (the product); bimodality is read from that aliquot's PL analysis result when the
spectra analysis reports it (``bimodal`` or ``n_peaks``/``n_components`` >= 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qdlab.data.errors import InputError
from qdlab.plan.objective import Outcome


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _bimodal(summary: Mapping[str, Any], aliquot: str | None) -> bool:
    for a in summary.get("analyses") or []:
        if not isinstance(a, Mapping) or a.get("kind") != "pl" or a.get("aliquot") != aliquot:
            continue
        res = a.get("result") or {}
        if not isinstance(res, Mapping):
            continue
        if isinstance(res.get("bimodal"), bool):
            return bool(res["bimodal"])
        for k in ("n_peaks", "n_components"):
            n = _num(res.get(k))
            if n is not None:
                return n >= 2
    return False


def outcome_from_experiment(exp: Mapping[str, Any]) -> tuple[Outcome, dict[str, Any]]:
    """The final-aliquot outcome of a stored experiment (``Store.experiment_dict``) and where it came from.

    Examples
    --------
    >>> exp = {"id": 3, "summary": {"aliquots": [
    ...     {"aliquot": "A0", "pl_peak_nm": 1010.0, "fwhm_mev": 150.0, "qy_percent": 13.0},
    ...     {"aliquot": "A9", "pl_peak_nm": 1277.0, "fwhm_mev": 120.0, "qy_percent": 14.8}]}}
    >>> out, src = outcome_from_experiment(exp)
    >>> out.pl_peak_nm, out.plqy, src["aliquot"]
    (1277.0, 0.148, 'A9')
    """
    summary = exp.get("summary") or {}
    rows = [r for r in summary.get("aliquots") or [] if isinstance(r, Mapping) and _num(r.get("pl_peak_nm")) is not None]
    if not rows:
        raise InputError(f"experiment {exp.get('id')!r} has no aliquot with a PL peak in the record (run its analysis first)", field="--from-run")
    last = rows[-1]
    qy = _num(last.get("qy_percent"))
    out = Outcome(
        pl_peak_nm=float(last["pl_peak_nm"]),
        fwhm_mev=_num(last.get("fwhm_mev")),
        plqy=None if qy is None else round(qy / 100.0, 12),
        bimodal=_bimodal(summary, last.get("aliquot")),
    )
    return out, {"experiment_id": exp.get("id"), "key": exp.get("key"), "aliquot": last.get("aliquot")}


def outcome_from_run(experiment: str, db: str | None = None) -> tuple[Outcome, dict[str, Any]]:
    """Read experiment ``experiment`` (id or key) from the record at ``db`` (default record DB)."""
    from qdlab.store import Store

    with Store(db) as store:
        return outcome_from_experiment(store.experiment_dict(experiment))


__all__ = ["outcome_from_experiment", "outcome_from_run"]
