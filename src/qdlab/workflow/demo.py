"""``make demo``: run the main job on the shipped example and say where the report is.

Runs ``qdlab run examples/overgrowth-1010nm --out qdlab-demo-output`` with the record in
``qdlab-demo-output/qdlab.sqlite`` (so the demo's synthetic experiment never lands in your own lab
record; set ``QDLAB_DATABASE_URL`` to use another database), then lists the record.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

EXAMPLE = Path("examples") / "overgrowth-1010nm"
OUT = Path("qdlab-demo-output")


def _example() -> Path:
    """The example folder: under the current directory, else beside the source checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / EXAMPLE / "experiment.toml").is_file():
            return base / EXAMPLE
    raise SystemExit(f"demo: cannot find {EXAMPLE}/experiment.toml (run `make demo` from the qdlab checkout)")


def main() -> int:
    example = _example()
    OUT.mkdir(exist_ok=True)
    db = os.environ.get("QDLAB_DATABASE_URL") or f"sqlite:///{(OUT / 'qdlab.sqlite').resolve()}"
    exe = [sys.executable, "-m", "qdlab.cli.main"]
    steps = [
        ["run", str(example), "--out", str(OUT), "--db", db],
        ["db", "list", "--db", db],
    ]
    t0 = time.perf_counter()
    for step in steps:
        print(f"\n$ qdlab {shlex.join(step)}", flush=True)
        rc = subprocess.call(exe + step)
        if rc != 0:
            print(f"demo step failed with exit code {rc}", file=sys.stderr)
            return rc
    report = (OUT / "report" / "index.html").resolve()
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")
    print(f"report:  {report}")
    print(f"summary: {report.with_name('summary.json')}")
    print(f"record:  {db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
