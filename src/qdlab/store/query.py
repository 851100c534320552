"""The experiments list: what each row says (seed PL, final PL, target reached, tags), filters and sorting.

Everything here works on the plain rows of :meth:`qdlab.store.Store.list_experiments`, so the web page
(``/?material=Cd3P2&seed=1010&from=2026-01-01&target=reached&tag=good&sort=date&order=desc``), the JSON API
and the CLI filter the same way.

* **seed PL (nm)** is the PL peak of the first aliquot (the seeds before the injection; Table 2's
  "initial"); **final PL (nm)** that of the last one (Table 2's "final").
* **target reached** compares the final aliquot with the manifest's ``[target]`` (kept by ``qdlab run`` in
  ``summary["next_recipe"]["target"]``): reached when the final PL peak is within the planner's tolerance
  (``[objective] wavelength_scale_nm`` of ``plan/planner.toml``, 15 nm; a campaign counts a hit the same way)
  and, where the target names them and the record has them, the final FWHM is at most ``max_fwhm_mev`` and
  the final PLQY at least ``min_qy_percent``. ``missed`` otherwise; ``unmeasured`` when the record has a
  target but no final PL peak; ``none`` when the experiment names no target.
* **tags** are 1-32 characters of letters, digits, ``-`` and ``_``; at most :data:`MAX_TAGS` per experiment.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qdlab.data.errors import InputError

#: Most tags one experiment may carry.
MAX_TAGS = 20
#: Longest tag, characters.
MAX_TAG_CHARS = 32
_TAG = re.compile(r"[A-Za-z0-9_-]{1,32}")

#: ``target`` filter values, with the words the list shows for each.
TARGET_WORDS = {"reached": "yes", "missed": "no", "unmeasured": "no final PL", "none": "no target"}
_TARGET_ALIASES = {"yes": "reached", "no": "missed", "no-target": "none", "no_target": "none"}
#: ``sort`` keys -> the row field they sort by.
SORT_FIELDS = {
    "experiment": "title", "material": "material", "seed": "seed_batch", "seed_nm": "seed_pl_nm", "date": "date",
    "final_nm": "final_pl_nm", "target_nm": "target_nm", "target": "target", "tags": "tags",
    "aliquots": "n_aliquots", "files": "n_measurements", "data": "synthetic", "updated": "updated_at",
}
_TARGET_RANK = {"reached": 0, "missed": 1, "unmeasured": 2, "none": 3}


def check_tag(text: str, field: str = "tag") -> str:
    """``text`` as a tag (surrounding blanks removed), or :class:`InputError` naming ``field``.

    Examples
    --------
    >>> check_tag(" good ")
    'good'
    >>> check_tag("bad tag!")
    Traceback (most recent call last):
    ...
    qdlab.data.errors.InputError: tag: “bad tag!” is not a tag: use 1-32 letters, digits, - or _
    """
    tag = str(text).strip()
    if not _TAG.fullmatch(tag):
        shown = tag if len(tag) <= 40 else tag[:40] + "…"
        what = "an empty tag" if not tag else f"“{shown}”"
        raise InputError(f"{what} is not a tag: use 1-{MAX_TAG_CHARS} letters, digits, - or _", field=field)
    return tag


def split_tags(texts: Iterable[str], field: str = "tag") -> list[str]:
    """Every tag in ``texts`` (each may hold several, separated by commas or blanks), checked, in order, once."""
    out: list[str] = []
    for text in texts:
        for part in re.split(r"[,\s]+", str(text).strip()):
            if part and (tag := check_tag(part, field)) not in out:
                out.append(tag)
    return out


@functools.cache
def target_tolerance_nm() -> float:
    """How close the final PL peak must come to the target: the planner's ``wavelength_scale_nm`` (nm)."""
    from qdlab.resources import load_toml

    return float(load_toml("plan/planner.toml")["objective"]["wavelength_scale_nm"]["value"])


@functools.cache
def seed_match_nm() -> float:
    """Half-width of the seed PL filter (nm), from ``store/list.toml``."""
    from qdlab.resources import load_toml

    return float(load_toml("store/list.toml")["seed"]["pl_match_nm"]["value"])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def series_ends(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The first (seed) and final aliquot's PL peak (nm), and the final FWHM (meV) and PLQY (%), if analysed.

    Table 2's ``initial``/``final`` win; without them the first and last aliquot rows with a PL peak. A series
    of one aliquot (only the seeds measured) has no final values.

    Examples
    --------
    >>> series_ends({"aliquots": [{"aliquot": "A0", "pl_peak_nm": 1010.0}, {"aliquot": "A1", "pl_peak_nm": 1277.0,
    ...              "fwhm_mev": 130.0}]})
    {'seed_pl_nm': 1010.0, 'final_pl_nm': 1277.0, 'final_fwhm_mev': 130.0, 'final_qy_percent': None}
    """
    rows = [r for r in summary.get("aliquots") or [] if isinstance(r, Mapping)]
    with_peak = [r for r in rows if _number(r.get("pl_peak_nm")) is not None]
    t2 = summary.get("table2") if isinstance(summary.get("table2"), Mapping) else {}
    initial = t2.get("initial") if isinstance(t2.get("initial"), Mapping) else {}
    final = t2.get("final") if isinstance(t2.get("final"), Mapping) else {}
    seed = _number(initial.get("wavelength_nm"))
    if seed is None and with_peak:
        seed = _number(with_peak[0].get("pl_peak_nm"))
    last: Mapping[str, Any] = with_peak[-1] if len(with_peak) > 1 else {}
    first = initial.get("aliquot", with_peak[0].get("aliquot") if with_peak else None)
    if final.get("aliquot") is not None:
        last = next((r for r in rows if r.get("aliquot") == final.get("aliquot")), last)
    if final.get("aliquot") is not None and final.get("aliquot") == first:
        final, last = {}, {}  # the seeds are the only aliquot: nothing grown yet
    end = _number(final.get("wavelength_nm"))
    if end is None:
        end = _number(last.get("pl_peak_nm"))
    qy = _number(final.get("qy_percent"))
    if qy is None:
        qy = _number(last.get("qy_percent"))
    return {"seed_pl_nm": seed, "final_pl_nm": end, "final_fwhm_mev": _number(last.get("fwhm_mev")),
            "final_qy_percent": qy}


def target_of(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manifest's ``[target]`` as ``qdlab run`` stored it (``summary["next_recipe"]["target"]``), if any."""
    nxt = summary.get("next_recipe")
    tgt = nxt.get("target") if isinstance(nxt, Mapping) else None
    if not isinstance(tgt, Mapping) or _number(tgt.get("wavelength_nm")) is None:
        return None
    return dict(tgt)


def target_status(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the experiment reached its target: ``{"status", "words", "target_nm", "note"}``.

    ``status`` is ``reached``, ``missed``, ``unmeasured`` (a target but no final PL peak) or ``none``.

    Examples
    --------
    >>> s = {"aliquots": [{"aliquot": "A0", "pl_peak_nm": 1010.0}, {"aliquot": "A9", "pl_peak_nm": 1290.0}],
    ...      "next_recipe": {"target": {"wavelength_nm": 1300.0}}}
    >>> target_status(s)["status"], target_status(s)["note"]
    ('reached', 'final PL 1290 nm is 10 nm from the target 1300 nm (within 15 nm)')
    >>> target_status({})["words"]
    'no target'
    """
    tgt = target_of(summary)
    if tgt is None:
        return {"status": "none", "words": TARGET_WORDS["none"], "target_nm": None, "note": "no [target] in the manifest"}
    want = float(tgt["wavelength_nm"])
    ends = series_ends(summary)
    final = ends["final_pl_nm"]
    if final is None:
        return {"status": "unmeasured", "words": TARGET_WORDS["unmeasured"], "target_nm": want,
                "note": f"target {want:g} nm; no final PL peak in the record"}
    tol = target_tolerance_nm()
    off = abs(final - want)
    ok = off <= tol
    notes = [f"final PL {final:.0f} nm is {off:.0f} nm from the target {want:g} nm "
             f"({'within' if ok else 'more than'} {tol:g} nm)"]
    fwhm, cap = ends["final_fwhm_mev"], _number(tgt.get("max_fwhm_mev"))
    if cap is not None and fwhm is not None:
        ok = ok and fwhm <= cap
        notes.append(f"final FWHM {fwhm:.0f} meV {'≤' if fwhm <= cap else '>'} {cap:g} meV")
    qy, floor = ends["final_qy_percent"], _number(tgt.get("min_qy_percent"))
    if floor is not None and qy is not None:
        ok = ok and qy >= floor
        notes.append(f"final PLQY {qy:.1f} % {'≥' if qy >= floor else '<'} {floor:g} %")
    status = "reached" if ok else "missed"
    return {"status": status, "words": TARGET_WORDS[status], "target_nm": want, "note": "; ".join(notes)}


def experiment_date(meta: Mapping[str, Any]) -> _dt.date | None:
    """The manifest's ``date`` (``2026-03-27`` or an ISO date-time) as a date; ``None`` if absent or unreadable."""
    text = str(meta.get("date") or "").strip()
    try:
        return _dt.date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def _default_order(sort: str) -> str:
    """Newest first for times, ascending for everything else."""
    return "desc" if sort in ("updated", "date") else "asc"


def _date(text: str, field: str) -> _dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"expected a date like 2026-01-31, got “{text[:40]}”", field=field) from None


@dataclass(frozen=True)
class ExperimentQuery:
    """Filters and order of the experiments list; every field empty means "all, newest run first".

    Parameters
    ----------
    q
        Text in the title, key, material, seed batch or tags (any case).
    material
        Exactly this material (``Cd3P2``).
    seed
        A seed batch (part of its name, any case) or, when a number, a seed PL peak in nm: rows whose seed PL
        is within :func:`seed_match_nm` of it also match (``seed=1010``).
    date_from, date_to
        Experiment date (the manifest's ``date``) from/to, both included; undated experiments are left out.
    target
        ``reached``, ``missed``, ``unmeasured`` or ``none`` (``yes``/``no``/``no-target`` are accepted too).
    tag
        Experiments carrying this tag (any case).
    origin
        ``measured`` or ``synthetic``.
    sort, order
        A key of :data:`SORT_FIELDS` and ``asc``/``desc``; rows without the value come last either way.
    """

    q: str = ""
    material: str = ""
    seed: str = ""
    date_from: _dt.date | None = None
    date_to: _dt.date | None = None
    target: str = ""
    tag: str = ""
    origin: str = ""
    sort: str = "updated"
    order: str = "desc"

    @classmethod
    def from_params(cls, params: Mapping[str, str | None]) -> ExperimentQuery:
        """Read the query parameters ``q material seed from to target tag origin sort order`` (all text).

        Raises
        ------
        InputError
            One line naming the parameter (``field``) that cannot be used.

        Examples
        --------
        >>> ExperimentQuery.from_params({"target": "yes", "from": "2026-01-01", "sort": "date"}).order
        'desc'
        >>> ExperimentQuery.from_params({"sort": "colour"})
        Traceback (most recent call last):
        ...
        qdlab.data.errors.InputError: sort: cannot sort by “colour”; sort by one of experiment, material, seed, seed_nm, date, final_nm, target_nm, target, tags, aliquots, files, data, updated
        """
        def get(name: str) -> str:
            return str(params.get(name) or "").strip()

        target = get("target").lower()
        target = _TARGET_ALIASES.get(target, target)
        if target and target not in TARGET_WORDS:
            raise InputError(f"expected reached, missed, unmeasured or none, got “{target[:40]}”", field="target")
        origin = get("origin").lower()
        if origin and origin not in ("measured", "synthetic"):
            raise InputError(f"expected measured or synthetic, got “{origin[:40]}”", field="origin")
        sort = get("sort").lower() or "updated"
        if sort not in SORT_FIELDS:
            raise InputError(f"cannot sort by “{sort[:40]}”; sort by one of {', '.join(SORT_FIELDS)}", field="sort")
        order = get("order").lower() or _default_order(sort)
        if order not in ("asc", "desc"):
            raise InputError(f"expected asc or desc, got “{order[:40]}”", field="order")
        start, end = _date(get("from"), "from"), _date(get("to"), "to")
        if start is not None and end is not None and end < start:
            raise InputError(f"{end.isoformat()} is before the start date {start.isoformat()}", field="to")
        tag = check_tag(get("tag"), "tag") if get("tag") else ""
        for name in ("q", "material", "seed"):
            if len(get(name)) > 200:
                raise InputError("at most 200 characters", field=name)
        return cls(q=get("q"), material=get("material"), seed=get("seed"), date_from=start, date_to=end,
                   target=target, tag=tag, origin=origin, sort=sort, order=order)

    def params(self, **changes: str) -> dict[str, str]:
        """The query as URL parameters (only those set; the default order left out), with ``changes`` applied.

        Examples
        --------
        >>> ExperimentQuery(tag="good").params(), ExperimentQuery(tag="good").params(sort="date")
        ({'tag': 'good'}, {'tag': 'good', 'sort': 'date', 'order': 'desc'})
        """
        out = {"q": self.q, "material": self.material, "seed": self.seed,
               "from": self.date_from.isoformat() if self.date_from else "",
               "to": self.date_to.isoformat() if self.date_to else "", "target": self.target, "tag": self.tag,
               "origin": self.origin, "sort": self.sort, "order": self.order}
        out.update(changes)
        if "order" not in changes:
            out["order"] = self.order if out["sort"] == self.sort else _default_order(out["sort"])
        if out["sort"] == "updated" and out["order"] == "desc":
            out["sort"] = out["order"] = ""
        return {k: v for k, v in out.items() if v}

    def sort_params(self, key: str) -> dict[str, str]:
        """The parameters of a click on column ``key``'s header: the other order if it is the sort, else its default."""
        if key == self.sort:
            return self.params(sort=key, order="asc" if self.order == "desc" else "desc")
        return self.params(sort=key, order=_default_order(key))

    def unfiltered_params(self) -> dict[str, str]:
        """The parameters of "clear filters": only the order is kept."""
        return ExperimentQuery(sort=self.sort, order=self.order).params()

    @property
    def filtered(self) -> bool:
        """Whether any filter (not only an order) is set."""
        return bool(self.q or self.material or self.seed or self.date_from or self.date_to or self.target
                    or self.tag or self.origin)

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether one list row passes every filter."""
        if self.material and row.get("material") != self.material:
            return False
        if self.origin and (row.get("synthetic") is True) != (self.origin == "synthetic"):
            return False
        if self.target and row.get("target") != self.target:
            return False
        tags = [str(t).lower() for t in row.get("tags") or []]
        if self.tag and self.tag.lower() not in tags:
            return False
        if self.date_from or self.date_to:
            d = row.get("date")
            day = _dt.date.fromisoformat(d[:10]) if isinstance(d, str) and len(d) >= 10 else None
            if day is None or (self.date_from and day < self.date_from) or (self.date_to and day > self.date_to):
                return False
        if self.seed and not self._seed_matches(row):
            return False
        if self.q:
            text = " ".join(str(row.get(k) or "") for k in ("title", "key", "material", "seed_batch")) + " " + " ".join(tags)
            if self.q.lower() not in text.lower():
                return False
        return True

    def _seed_matches(self, row: Mapping[str, Any]) -> bool:
        if self.seed.lower() in str(row.get("seed_batch") or "").lower():
            return True
        try:
            want = float(self.seed.replace(",", "."))
        except ValueError:
            return False
        seed = _number(row.get("seed_pl_nm"))
        return seed is not None and abs(seed - want) <= seed_match_nm()

    def apply(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The rows that pass the filters, in this query's order (rows lacking the sort value last)."""
        kept = [dict(r) for r in rows if self.matches(r)]
        field = SORT_FIELDS[self.sort]

        def key(r: Mapping[str, Any]) -> Any:
            v = (r.get("title") or r.get("key")) if field == "title" else r.get(field)
            if field == "target":
                return _TARGET_RANK.get(str(v), 9)
            if field == "tags":
                return ",".join(sorted(str(t).lower() for t in v or [])) or None
            if isinstance(v, str):
                return v.lower()
            return v

        have = [r for r in kept if key(r) is not None]
        lack = [r for r in kept if key(r) is None]
        have.sort(key=lambda r: (key(r), r.get("id") or 0), reverse=self.order == "desc")
        return have + lack


__all__ = ["ExperimentQuery", "MAX_TAGS", "MAX_TAG_CHARS", "TARGET_WORDS", "SORT_FIELDS", "check_tag", "split_tags",
           "target_status", "target_of", "series_ends", "experiment_date", "target_tolerance_nm", "seed_match_nm"]
