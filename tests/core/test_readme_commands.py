"""Every command of the README's CLI tour runs as written (issue 20: ship the files it uses), exit code 0."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## CLI tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    cmds = []
    for line in block.splitlines():
        line = re.split(r"\s#\s", line, maxsplit=1)[0].strip()
        if not line.startswith("qdlab "):
            continue
        for part in line.split(" ; "):
            part = re.sub(r"\s*\[[^]]*\]", "", part).strip()  # [optional arguments]
            if part in ("qdlab web",):  # a server: tested in tests/web
                continue
            cmds.append(part)
    return cmds


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path: Path) -> None:
    cmds = _commands()
    assert len(cmds) > 20
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    exe = str(Path(sys.executable).with_name("qdlab"))
    env = {**os.environ, "QDLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'lab.sqlite'}", "QDLAB_WORKERS": "2"}
    failures = []
    for cmd in cmds:
        argv = shlex.split(cmd)
        out_file = None
        if ">" in argv:
            i = argv.index(">")
            argv, out_file = argv[:i], argv[i + 1]
        r = subprocess.run([exe, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        if out_file:
            (tmp_path / out_file).write_text(r.stdout)
        if r.returncode != 0:
            failures.append(f"{cmd}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    assert failures == []
