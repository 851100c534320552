"""``make demo``: a short end-to-end tour of what qdlab can do today.

Later this becomes ``qdlab run examples/overgrowth-1010nm`` (the full pipeline).
"""

from __future__ import annotations

import shlex
import subprocess
import sys

STEPS = [
    ["qdlab", "--version"],
    ["qdlab", "size", "--material", "Cd3P2", "--wavelength-nm", "1010"],
    ["qdlab", "size", "--material", "Cd3P2", "--mass-da", "140000", "--density", "handbook"],
    ["qdlab", "mass", "Cd32P20(C17H33CO2)5", "--weights", "iupac2007"],
]


def main() -> int:
    exe = [sys.executable, "-m", "qdlab.cli.main"]
    for step in STEPS:
        print(f"\n$ {shlex.join(step)}", flush=True)
        rc = subprocess.call(exe + step[1:])
        if rc != 0:
            print(f"demo step failed with exit code {rc}", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
