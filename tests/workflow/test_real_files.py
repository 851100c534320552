"""`qdlab run` on an experiment folder assembled from the real-file corpus (tests/data/real, SOURCES.md).

Every analysis either runs (and the report lists it as ok) or its refusal is reported with the file and the
reason. By default `qdlab run` (docs/run.md) is all-or-nothing: a refused file stops the store and the report,
exit 2, one line naming each refused file; with `--keep-going` the run is stored and the report lists each
refusal with its file and reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[1] / "data" / "real"

MANIFEST = """
[experiment]
id = "{exp_id}"
title = "Real instrument files (qdlab conformance corpus)"

[[aliquots]]
id = "A1"
time_min = 0
absorbance = "abs/PbSe_batch_1.txt"
pl = "abs/tsunami.scope"

[[aliquots]]
id = "A2"
time_min = 10
absorbance = "abs/PbSe_batch_4_2012-02-21.txt"

[[ms]]
path = "ms/hpc"
role = "product"

[[ms]]
path = "ms/lin"
role = "{lin_role}"

[[tem]]
path = "tem/test_STEM_image.dm3"
role = "after"
{extra_tem}
[[xrd]]
path = "xrd/LaB6_d500_si_psd.xye"
role = "after"

[[xrd]]
path = "xrd/XRD-918-16_10.xrdml"
role = "before"
"""

REFUSED_TEM = """
[[tem]]
path = "tem/test_loading_image_saved_with_imageJ_no_scale.tif"
role = "before"
"""


def _folder(root: Path, *, exp_id: str, lin_role: str, refused_tem: bool) -> Path:
    exp = root / "exp"
    for sub in ("ms", "tem", "xrd", "abs"):
        (exp / sub).mkdir(parents=True)
    shutil.copytree(REAL / "ms/readBrukerFlexData/hpc/fid/0_A20", exp / "ms/hpc")
    shutil.copytree(REAL / "ms/readBrukerFlexData/2010_05_19_Gibb_C8_A1/0_A1", exp / "ms/lin")
    for name in ("test_STEM_image.dm3", "test_loading_image_saved_with_imageJ_no_scale.tif"):
        shutil.copy(REAL / "tem/hyperspy" / name, exp / "tem")
    shutil.copy(REAL / "xrd/xrayutilities/LaB6_d500_si_psd.xye", exp / "xrd")
    shutil.copy(REAL / "xrd/pynxtools-xrd/XRD-918-16_10.xrdml", exp / "xrd")
    for name in ("JASCO/PbSe_batch_1.txt", "JASCO/PbSe_batch_4_2012-02-21.txt", "ocean_optics/tsunami.scope"):
        shutil.copy(REAL / "spectra/WrightTools" / name, exp / "abs")
    (exp / "experiment.toml").write_text(
        MANIFEST.format(exp_id=exp_id, lin_role=lin_role, extra_tem=REFUSED_TEM if refused_tem else ""),
        encoding="utf-8")
    return exp


def _run(exp: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qdlab.cli.main", "run", str(exp), "--db", f"sqlite:///{root / 'rec.sqlite'}",
         "--out", str(root / "out"), *extra], capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_run_on_real_files_lists_each_refusal(tmp_path):
    exp = _folder(tmp_path, exp_id="REAL-1", lin_role="after", refused_tem=True)
    r = _run(exp, tmp_path)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("qdlab: error")]
    assert len(lines) == 1
    msg = lines[0]
    assert "2 file(s) failed" in msg and "nothing was stored" in msg
    # the uncalibrated TIFF and the linear spectrum without a molecular-ion region, each with its reason
    assert "test_loading_image_saved_with_imageJ_no_scale.tif" in msg and "uncalibrated image" in msg
    assert "ms/lin" in msg and "min_mass_da" in msg
    assert not (tmp_path / "out" / "report").exists()

    r = _run(exp, tmp_path, "--keep-going", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["counts"] == {"files": 9, "measurements": 9, "analyses_ok": 7, "analyses_refused": 2}
    refused = summary["refused"]
    assert any("test_loading_image_saved_with_imageJ_no_scale.tif" in m and "uncalibrated image" in m for m in refused)
    assert any(m.startswith("ms/lin") and "min_mass_da" in m for m in refused)
    html = Path(summary["report"]["html"]).read_text(encoding="utf-8")
    assert "Files refused" in html and "uncalibrated image" in html


@pytest.mark.slow
def test_run_on_real_files_writes_a_report_where_every_analysis_ran(tmp_path):
    exp = _folder(tmp_path, exp_id="REAL-2", lin_role="clusters", refused_tem=False)
    r = _run(exp, tmp_path, "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["counts"] == {"files": 8, "measurements": 8, "analyses_ok": 8, "analyses_refused": 0}
    by_file = {a["source_name"]: a for a in summary["analyses"]}
    assert by_file["ms/hpc"]["status"] == "ok" and by_file["tem/test_STEM_image.dm3"]["status"] == "ok"
    assert by_file["xrd/XRD-918-16_10.xrdml"]["status"] == "ok"
    report = Path(summary["report"]["html"])
    assert report.is_file() and "REAL-2" in report.read_text(encoding="utf-8")
    assert json.loads(Path(summary["report"]["summary_json"]).read_text(encoding="utf-8"))["experiment"]["id"] == "REAL-2"
