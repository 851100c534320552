"""Fuzz every qdlab reader and parser with mutations of real instrument files and of the example experiment.

Each *target* is one reader (spectra, MS, TEM, XRD, experiment.toml, recipe, formula) with its seed corpus:
the real files under ``tests/data/real`` (see SOURCES.md there) and the files of
``examples/overgrowth-1010nm``. Each input is a seed changed by one *mutator* (truncation, bit flips,
byte edits, wrong encodings, huge numbers, NaN/inf, empty and whitespace-only files, duplicated/deleted
lines, very long files). The reader is called on it with a time bound; the outcome is one of

``ok``
    a result that passes the reader's invariants (finite, matching, ordered axis; positive pixel size ...);
``rejected``
    a :class:`~qdlab.data.errors.QdlabError` whose message is one line and names the file;
``defect``
    anything else: another exception, a time-out (hang), an invariant broken (a silently wrong axis), or an
    error message of several lines or not naming the file.

Run ``python tools/fuzz_readers.py --per-target 300 --seed 1`` (``--json`` for machine-readable output;
``--long-lines 1000000`` adds 10^6-line files). The test suite runs a small budget of it
(tests/reliability/test_fuzz_readers.py) and a long one behind ``-m slow``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
EXAMPLE = ROOT / "examples" / "overgrowth-1010nm"

_NUM_RE = re.compile(rb"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_SPECIALS = [b"nan", b"NaN", b"inf", b"-inf", b"Infinity", b"1e308", b"1e309", b"-1e309", b"1e-320",
             b"99999999999999999999999999999999", b"-0", b"0", b"1" + b"0" * 400, b"0x1F", b"1,5", b"--1"]


# ----------------------------------------------------------------------------------------------------------
# mutators: (rng, bytes, long_lines) -> bytes
# ----------------------------------------------------------------------------------------------------------
def _truncate(rng: random.Random, b: bytes, _n: int) -> bytes:
    return b[: rng.randrange(0, max(len(b), 1))]


def _bitflip(rng: random.Random, b: bytes, _n: int) -> bytes:
    if not b:
        return b
    a = bytearray(b)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        i = rng.randrange(len(a))
        a[i] ^= 1 << rng.randrange(8)
    return bytes(a)


def _byte_edit(rng: random.Random, b: bytes, _n: int) -> bytes:
    if not b:
        return bytes([rng.randrange(256)])
    a = bytearray(b)
    for _ in range(rng.choice([1, 3, 10])):
        i = rng.randrange(len(a))
        op = rng.randrange(3)
        if op == 0:
            a[i] = rng.randrange(256)
        elif op == 1:
            del a[i: i + rng.randrange(1, 64)]
        else:
            a[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        if not a:
            break
    return bytes(a)


def _zero_block(rng: random.Random, b: bytes, _n: int) -> bytes:
    if len(b) < 2:
        return b
    i = rng.randrange(len(b))
    k = rng.randrange(1, max(2, len(b) // 4))
    return b[:i] + b"\x00" * min(k, len(b) - i) + b[i + k:]


def _encoding(rng: random.Random, b: bytes, _n: int) -> bytes:
    text = b.decode("latin-1")
    choice = rng.randrange(5)
    if choice == 0:
        return text.encode("utf-16")
    if choice == 1:
        return text.encode("utf-16-le")
    if choice == 2:
        return b"\xef\xbb\xbf" + b
    if choice == 3:  # latin-1 characters in a file read as UTF-8
        i = rng.randrange(max(len(b), 1))
        return b[:i] + "µ°Å é".encode("latin-1") + b[i:]
    return b.replace(b"\n", b"\r") if b"\n" in b else b + b"\r\r"


def _number(rng: random.Random, b: bytes, _n: int) -> bytes:
    matches = list(_NUM_RE.finditer(b))
    if not matches:
        return b + rng.choice(_SPECIALS)
    out = b
    for m in sorted(rng.sample(matches, min(len(matches), rng.choice([1, 1, 3]))), key=lambda m: -m.start()):
        out = out[: m.start()] + rng.choice(_SPECIALS) + out[m.end():]
    return out


def _empty(rng: random.Random, b: bytes, _n: int) -> bytes:
    return rng.choice([b"", b" ", b"\n\n\n", b"\x00", b"\t \r\n", b"\xef\xbb\xbf"])


def _lines(rng: random.Random, b: bytes, _n: int) -> bytes:
    lines = b.split(b"\n")
    if len(lines) < 2:
        return b + b"\n" + b
    i = rng.randrange(len(lines))
    op = rng.randrange(4)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines[i] = lines[i] * rng.randrange(2, 50)
    return b"\n".join(lines)


def _long(rng: random.Random, b: bytes, n: int) -> bytes:
    """A very long file: one data-like line of the seed repeated to ``n`` lines (a run-away export)."""
    lines = [ln for ln in b.split(b"\n") if _NUM_RE.search(ln)] or [b"1 2"]
    line = lines[rng.randrange(len(lines))][:200]
    return b + (b"\n" + line) * n


MUTATORS: dict[str, Callable[[random.Random, bytes, int], bytes]] = {
    "truncate": _truncate, "bitflip": _bitflip, "byte_edit": _byte_edit, "zero_block": _zero_block,
    "encoding": _encoding, "number": _number, "empty": _empty, "lines": _lines, "long": _long,
}


# ----------------------------------------------------------------------------------------------------------
# targets
# ----------------------------------------------------------------------------------------------------------
class Invariant(AssertionError):
    """The reader returned a result that cannot be right."""


def _axis_ok(x: Any, y: Any, what: str, *, increasing: bool = False, positive: bool = False) -> None:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 1 or (x.shape != y.shape[-1:] and x.shape != y.shape):
        raise Invariant(f"{what}: axis shape {x.shape} vs values {y.shape}")
    if x.size == 0:
        raise Invariant(f"{what}: empty axis returned")
    if not np.all(np.isfinite(x)):
        raise Invariant(f"{what}: non-finite axis values returned")
    if not np.all(np.isfinite(y)):
        raise Invariant(f"{what}: non-finite values returned")
    if increasing and x.size > 1 and np.any(np.diff(x) <= 0):
        raise Invariant(f"{what}: axis not strictly increasing")
    if positive and np.any(x <= 0):
        raise Invariant(f"{what}: axis not positive")


def _check_spectra(res: Any) -> None:
    if not res.spectra:
        raise Invariant("no spectra returned")
    for s in res.spectra:
        if s.x_unit not in ("nm", "ev", "cm-1"):
            raise Invariant(f"unknown x unit {s.x_unit!r}")
        x, y = np.asarray(s.x), np.asarray(s.y)
        if x.shape != y.shape or x.size == 0 or not np.all(np.isfinite(x)):
            raise Invariant(f"spectrum axis: shape {x.shape}/{y.shape} or non-finite x")
        if np.any(x <= 0) and s.x_unit in ("nm", "ev"):
            raise Invariant(f"non-positive {s.x_unit} axis value {x.min()}")
        d = np.diff(x)
        if d.size and not (np.all(d > 0) or np.all(d < 0)):
            raise Invariant(f"{s.x_unit} axis neither increasing nor decreasing (duplicated or out-of-order points)")


def _check_ms(res: Any) -> None:
    _axis_ok(res.mz, res.intensity, "m/z", increasing=True, positive=True)


def _check_xrd(res: Any) -> None:
    _axis_ok(res.two_theta_deg, res.intensity, "2theta", increasing=True)
    if not (0 <= res.two_theta_deg[0] and res.two_theta_deg[-1] < 180):
        raise Invariant(f"2theta outside 0-180 deg: {res.two_theta_deg[0]}..{res.two_theta_deg[-1]}")
    if not (0.1 <= res.wavelength_angstrom <= 5):
        raise Invariant(f"wavelength {res.wavelength_angstrom} A")


def _check_tem(res: Any) -> None:
    img = np.asarray(res.image)
    if img.ndim != 2 or img.size == 0:
        raise Invariant(f"image shape {img.shape}")
    if not all(math.isfinite(c) and c > 0 for c in res.nm_per_px):
        raise Invariant(f"pixel size {res.nm_per_px}")
    if img.dtype.kind == "f" and not np.all(np.isfinite(img)):
        raise Invariant("non-finite pixels")


@dataclass
class Target:
    """One reader: its seeds, how to call it on a mutated copy and how to check a result."""

    name: str
    seeds: list[Path]
    call: Callable[[Path, Path], Any]  # (mutated file, seed) -> result
    check: Callable[[Any], None]
    mutators: tuple[str, ...] = tuple(MUTATORS)
    layout: Callable[[Path, bytes, Path], Path] | None = None  # write the mutated bytes where the reader expects
    names_file: bool = True


#: seeds the readers rightly refuse (tests/tem/test_real_files.py checks each refusal)
EXPECTED_REJECTED = {"64x64_diffraction_acquire_1.ser", "Fei_HAADF-UK_location.dm3", "test_diffraction_pattern.dm3",
                     "test_loading_image_saved_with_imageJ_no_scale.tif"}

_SPECTRA_X_UNIT = {"MoS2_fromCzech2015.txt": "nm"}


def _spectra_call(p: Path, seed: Path) -> Any:
    from qdlab.spectra.io import read_spectra

    return read_spectra(p, x_unit=_SPECTRA_X_UNIT.get(seed.name))


def _ms_call(p: Path, seed: Path) -> Any:
    from qdlab.ms.io import read_mass_spectrum

    return read_mass_spectrum(p)


def _xrd_call(p: Path, seed: Path) -> Any:
    from qdlab.xrd.io import read_diffractogram

    return read_diffractogram(p)


def _tem_call(p: Path, seed: Path) -> Any:
    from qdlab.tem.io import read_micrograph

    return read_micrograph(p)


def _manifest_call(p: Path, seed: Path) -> Any:
    from qdlab.workflow.manifest import load_manifest

    return load_manifest(p.parent)


def _recipe_call(p: Path, seed: Path) -> Any:
    from qdlab.chem.recipe import load_recipe

    return load_recipe(p)


def _formula_call(p: Path, seed: Path) -> Any:
    from qdlab.chem.formula import parse_formula

    text = p.read_bytes().decode("utf-8", errors="replace")
    f = parse_formula(text)
    m = f.average_mass_da()
    if not (math.isfinite(m) and m >= 0):
        raise Invariant(f"mass {m} Da for {text!r}")
    return f


def _flex_layout(work: Path, data: bytes, seed: Path) -> Path:
    """A copy of the acquisition folder with one of its two files (acqu[s] or fid) mutated."""
    dest = work / "flex"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(seed.parent, dest)
    (dest / seed.name).write_bytes(data)
    return dest / "fid"


def _manifest_layout(work: Path, data: bytes, seed: Path) -> Path:
    dest = work / "example"
    if not dest.exists():
        shutil.copytree(seed.parent, dest, ignore=shutil.ignore_patterns("out", ".qdlab*", "*.sqlite*"))
    (dest / "experiment.toml").write_bytes(data)
    return dest / "experiment.toml"


def _formula_seeds(work: Path) -> list[Path]:
    from qdlab.chem.formula import ligand_shorthands

    texts = ["Cd3P2", "Cd37P20(O2CC13H27)34", "[Cd26P12(O2CC15H31)28]+", "C6H12O6", "Cd(OA)2", "(CH3)3P",
             "Cd3P2-2", "H2O"]
    texts += list(ligand_shorthands())[:8]
    out = []
    for i, t in enumerate(texts):
        q = work / f"formula-{i}.txt"
        q.write_text(t, encoding="utf-8")
        out.append(q)
    return out


def targets(work: Path) -> list[Target]:
    """Every reader with its seed corpus (real files + the example experiment)."""
    spectra = sorted((REAL / "spectra").rglob("*"))
    spectra = [p for p in spectra if p.is_file() and not p.name.endswith(".expected.json")]
    spectra += sorted((EXAMPLE / "pl").glob("*.txt"))[:2] + sorted((EXAMPLE / "abs").glob("*.csv"))[:2]
    spectra += [EXAMPLE / "plqy" / "blank.txt"]
    ms_text = [REAL / "ms" / "pymzml" / "example.mzML", REAL / "ms" / "readBrukerFlexData" / "hpc" / "mzXML" / "hpc.mzXML"]
    flex = [p for p in sorted((REAL / "ms").rglob("*")) if p.is_file() and p.name in ("acqu", "fid")]
    flex += [p for p in sorted((EXAMPLE / "ms").rglob("*")) if p.is_file() and p.name in ("acqus", "fid")]
    xrd = [p for p in sorted((REAL / "xrd").rglob("*")) if p.is_file() and not p.name.endswith(".expected.json")]
    xrd += [EXAMPLE / "xrd" / "after.xy"]
    tem = [p for p in sorted((REAL / "tem").rglob("*")) if p.is_file() and not p.name.endswith(".expected.json")]
    tem += sorted((EXAMPLE / "tem").glob("*.tif"))
    recipes = [*sorted((ROOT / "src" / "qdlab" / "resources" / "recipes").glob("*.toml")), EXAMPLE / "recipe.toml"]
    binary = ("truncate", "bitflip", "byte_edit", "zero_block", "empty")
    return [
        Target("spectra", spectra, _spectra_call, _check_spectra),
        Target("ms-mzml-mzxml", ms_text, _ms_call, _check_ms),
        Target("ms-flex", flex, _ms_call, _check_ms, layout=_flex_layout),
        Target("xrd", xrd, _xrd_call, _check_xrd),
        Target("tem", tem, _tem_call, _check_tem, mutators=binary),
        Target("experiment.toml", [EXAMPLE / "experiment.toml"], _manifest_call, lambda r: None,
               layout=_manifest_layout),
        Target("recipe", recipes, _recipe_call, lambda r: None),
        Target("formula", _formula_seeds(work), _formula_call, lambda r: None,
               mutators=("truncate", "bitflip", "byte_edit", "number", "empty", "lines"), names_file=False),
    ]


# ----------------------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------------------
class _Timeout(Exception):
    pass


def _alarm(_sig: int, _frame: Any) -> None:
    raise _Timeout


@dataclass
class Report:
    """Counts per target and the defects found (each with enough to reproduce it)."""

    inputs: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    defects: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": dict(self.inputs), "outcomes": {k: dict(v) for k, v in self.outcomes.items()},
                "defects": self.defects, "seconds": {k: round(v, 2) for k, v in self.seconds.items()}}


def classify(target: Target, path: Path, seed: Path, timeout_s: float) -> tuple[str, str]:
    """Run one input; returns (outcome, detail) with outcome ``ok``, ``rejected`` or a defect kind."""
    from qdlab.data.errors import QdlabError

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        res = target.call(path, seed)
        target.check(res)
    except _Timeout:
        return "hang", f"no answer within {timeout_s} s"
    except Invariant as exc:
        return "wrong-result", str(exc)
    except QdlabError as exc:
        msg = str(exc)
        if "\n" in msg.strip():
            return "multi-line-message", msg[:300]
        if target.names_file and path.name not in msg and path.parent.name not in msg:
            return "message-without-file", msg[:300]
        return "rejected", msg[:200]
    except RecursionError as exc:
        return "exception", f"RecursionError: {str(exc)[:200]}"
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return "exception", f"{type(exc).__name__}: {str(exc)[:200]} at {Path(tb.filename).name}:{tb.lineno}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return "ok", ""


def inputs_for(target: Target, rng: random.Random, n: int, long_lines: int) -> Iterator[tuple[str, Path, bytes]]:
    """``n`` (mutator, seed, bytes): every seed unchanged first, then random mutations."""
    for seed in target.seeds:
        yield "none", seed, seed.read_bytes()
    names = [m for m in target.mutators if long_lines or m != "long"]
    for _ in range(max(n - len(target.seeds), 0)):
        seed = rng.choice(target.seeds)
        mut = rng.choice(names)
        yield mut, seed, MUTATORS[mut](rng, seed.read_bytes(), long_lines)


def run(per_target: int = 100, seed: int = 0, timeout_s: float = 10.0, long_lines: int = 0,
        only: str | None = None, report_every: int = 0) -> Report:
    """Fuzz every target with ``per_target`` inputs; returns the counts and the defects."""
    import warnings

    rep = Report()
    with tempfile.TemporaryDirectory(prefix="qdlab-fuzz-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        work = Path(tmp)
        for target in targets(work):
            if only and target.name != only:
                continue
            rng = random.Random(f"{seed}-{target.name}")
            rep.outcomes[target.name] = Counter()
            t0 = time.perf_counter()
            for k, (mut, sd, data) in enumerate(inputs_for(target, rng, per_target, long_lines)):
                if target.layout is not None:
                    path = target.layout(work, data, sd)
                else:
                    path = work / "in" / sd.name
                    path.parent.mkdir(exist_ok=True)
                    path.write_bytes(data)
                outcome, detail = classify(target, path, sd, timeout_s)
                if mut == "none" and outcome != ("rejected" if sd.name in EXPECTED_REJECTED else "ok"):
                    outcome, detail = "seed-not-read", f"{outcome}: {detail}"
                rep.inputs[target.name] += 1
                rep.outcomes[target.name][outcome] += 1
                if outcome not in ("ok", "rejected"):
                    keep = work.parent / f"qdlab-fuzz-defect-{target.name}-{k}{sd.suffix}"
                    rep.defects.append({"target": target.name, "seed": str(sd.relative_to(ROOT)) if sd.is_relative_to(ROOT)
                                        else sd.name, "mutator": mut, "outcome": outcome, "detail": detail,
                                        "bytes": len(data)})
                    if len(rep.defects) <= 200:
                        keep.write_bytes(data[:5_000_000])
                        rep.defects[-1]["saved"] = str(keep)
                if report_every and (k + 1) % report_every == 0:
                    print(f"  {target.name}: {k + 1} inputs", file=sys.stderr)
            rep.seconds[target.name] = time.perf_counter() - t0
    return rep


def signature(detail: str) -> str:
    """A defect's message without paths and numbers (to count distinct defects)."""
    d = re.sub(r"/\S+/", "", detail.split("\n")[0])
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", d)[:160]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-target", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout-s", type=float, default=10.0)
    ap.add_argument("--long-lines", type=int, default=0, help="lines of the 'long' mutator (0: off)")
    ap.add_argument("--only", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--save", default=None, help="write the full report (JSON) here")
    a = ap.parse_args(argv)
    rep = run(a.per_target, a.seed, a.timeout_s, a.long_lines, a.only, report_every=0)
    if a.save:
        Path(a.save).write_text(json.dumps(rep.to_dict(), indent=1))
    if a.json:
        print(json.dumps(rep.to_dict(), indent=1))
    else:
        print(f"{'reader':18} {'inputs':>7} {'ok':>6} {'rejected':>9} {'defects':>8} {'s':>7}")
        for name, c in rep.outcomes.items():
            bad = sum(v for k, v in c.items() if k not in ("ok", "rejected"))
            print(f"{name:18} {rep.inputs[name]:7d} {c['ok']:6d} {c['rejected']:9d} {bad:8d} {rep.seconds[name]:7.1f}")
        kinds = Counter((d["target"], d["outcome"], signature(d["detail"])) for d in rep.defects)
        for (target, outcome, sig), n in kinds.most_common():
            print(f"DEFECT x{n} {target} {outcome}: {sig}")
    return 1 if rep.defects else 0


if __name__ == "__main__":
    raise SystemExit(main())
