"""Neighbouring-peak spacings explained as small steps of building blocks."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from qdlab.data.errors import InputError
from qdlab.ms.compose import Block, parse_blocks
from qdlab.ms.config import default


def explain_spacings(
    masses_da: Sequence[float],
    blocks: str | Sequence[str | Block] = "Cd,P,OA",
    *,
    tolerance_da: float = 3.0,
    max_units: int = 6,
    window_da: float | None = None,
    weights: str | None = None,
    charges: Sequence[int] = (1, 2, 3),
) -> list[dict[str, Any]]:
    """Explain the m/z differences of neighbouring peaks as small steps of building blocks.

    For each pair of adjacent peaks (sorted, closer than ``window_da``, default 1000 Da) every integer
    step ``v`` (``sum |v_i| <= max_units``) whose mass ``v . m`` matches ``z * delta`` within
    ``z * tolerance_da`` for a charge ``z`` is listed, simplest first. A spacing with no z = 1
    explanation (e.g. the ~132 Da spacing of the paper's Table 1, about Cd3P2/3 or Cd(OA)/3) is worth a
    look: it can mean higher charge states or fragments of different families interleaved.

    Examples
    --------
    >>> r = explain_spacings([5000.0, 5399.18])
    >>> r[0]["steps"][0]["step"], r[0]["steps"][0]["charge"]
    ('+Cd3P2', 1)
    """
    blk = parse_blocks(blocks)
    if not 1 <= len(blk) <= 5:
        raise InputError("spacing analysis supports 1 to 5 blocks", field="blocks")
    bm = np.asarray([b.mass_da(weights) for b in blk])
    window = float(default("assign", "series_window_da") if window_da is None else window_da)
    vecs = np.asarray([v for v in itertools.product(range(-max_units, max_units + 1), repeat=len(blk))
                       if 0 < sum(abs(x) for x in v) <= max_units], dtype=np.int64)
    l1 = np.abs(vecs).sum(axis=1)
    vm = vecs @ bm
    m = np.sort(np.asarray(masses_da, dtype=float))
    out = []
    for a, b in itertools.pairwise(m):
        delta = b - a
        if delta > window:
            continue
        steps = []
        for z in charges:
            hit = np.nonzero(np.abs(vm - z * delta) <= z * tolerance_da)[0]
            for h in hit:
                txt = _merge_signs("".join(
                    ("+" if n > 0 else "-") + (blk[j].name if blk[j].is_element else f"({blk[j].name})")
                    + (str(abs(n)) if abs(n) > 1 else "")
                    for j, n in enumerate(vecs[h]) if n))
                steps.append({"step": txt, "charge": int(z), "mass_da": float(vm[h]) / z, "error_da": float(delta - vm[h] / z),
                              "units": int(l1[h])})
        steps.sort(key=lambda d: (d["charge"], d["units"], abs(d["error_da"])))
        out.append({"from_mass_da": float(a), "to_mass_da": float(b), "delta_da": float(delta), "steps": steps})
    return out


def _merge_signs(text: str) -> str:
    """``+Cd3+P2-(OA)`` -> ``+Cd3P2-(OA)`` (a sign only where it changes)."""
    out, last = [], ""
    for part in re.findall(r"[+-][^+-]+", text):
        sign, body = part[0], part[1:]
        out.append(body if sign == last else part)
        last = sign
    return "".join(out)



__all__ = ["explain_spacings"]
