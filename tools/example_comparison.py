"""The shipped example run end to end, against the paper and the generator's inputs (docs/science.md, section 7).

Runs ``qdlab run`` (the Python API, :func:`qdlab.workflow.run_experiment`) on a copy of
``examples/overgrowth-1010nm`` with a throw-away record, and fills the table between
``<!-- BEGIN paper_comparison:example -->`` and ``<!-- END paper_comparison:example -->`` in
``docs/science.md``: each quantity as the paper reports it, as the example's generator
(``tools/make_example.py``: the twin's scenario plus the paper's TEM/MS/XRD sizes) put it into the files,
and as the pipeline measured it back. Without ``--write`` the table goes to stdout. About a minute.

Run: ``PYTHONPATH=src python tools/example_comparison.py [--write]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "science.md"
EXAMPLE = ROOT / "examples" / "overgrowth-1010nm"


def _tool(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_example() -> dict[str, Any]:
    """The example's ``summary.json`` content from a fresh run in a temporary folder."""
    from qdlab.workflow import run_experiment

    with tempfile.TemporaryDirectory(prefix="qdlab-example-") as tmp:
        folder = Path(tmp) / "overgrowth-1010nm"
        shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("report", "*.sqlite"))
        res = run_experiment(folder, db=f"sqlite:///{Path(tmp) / 'lab.sqlite'}", quiet=True, keep_going=True,
                             scheduler="serial")
        return res.summary


def _analysis(s: dict[str, Any], kind: str, role: str) -> dict[str, Any]:
    return next(a["result"] for a in s["analyses"] if a["kind"] == kind and a["role"] == role and a["status"] == "ok")


def table(s: dict[str, Any]) -> str:
    """The Markdown table from a run's summary, the twin and the generator's settings."""
    from qdlab.twin.solver import simulate

    gen = _tool("make_example")
    paper, qy = gen.PAPER, gen.QY_PERCENT
    tw = simulate(gen.SCENARIO)
    ta = tw.aliquots
    rows_run = {r["aliquot_id"]: r for r in s["series"]["result"]["table"]}
    t2 = s["table2"]
    bim_twin = [a for a in ta if a.bimodal]
    bim_run = [rows_run[a] for a in rows_run if rows_run[a]["bimodal"]]
    pars = s["twin"]["result"]
    names = pars["names"]
    tem_b, tem_a = _analysis(s, "tem", "before"), _analysis(s, "tem", "after")
    ms_b, ms_a = _analysis(s, "ms", "before"), _analysis(s, "ms", "after")
    xrd = _analysis(s, "xrd", "after")
    best = next(sc for sc in xrd["scores"] if sc["phase"] == xrd["best_phase"])
    brightest = t2["brightest"]["aliquot"]

    def modes(rs: list[dict[str, Any]]) -> str:
        return ", ".join(f"{r['aliquot_id']} ({' + '.join(f'{m:.0f}' for m in sorted(r['mode_wavelengths_nm']))} nm)" for r in rs)

    def modes_twin(al: list[Any]) -> str:
        from qdlab.spectra import analyze_pl

        out = []
        for a in al:
            res = analyze_pl(tw.pl[int(a.aliquot_id[1:])], window_nm=tw.scenario.observation.pl_window_nm)
            out.append(f"{a.aliquot_id} ({' + '.join(f'{m:.0f}' for m in sorted(res.modes_nm))} nm)")
        return ", ".join(out)

    cal = ", ".join(f"{pars['values'][n]:.3f} ± {pars['std'][n]:.3f}" for n in names)
    truth = ", ".join(f"{tw.scenario.seeds.surface.etch_factor:g}" if "etch" in n else
                      f"{tw.scenario.seeds.surface.reactivity_factor:g}" for n in names)
    lines = [
        "| quantity | paper (1010 nm experiment) | generator input | qdlab run on the example |",
        "|---|---|---|---|",
        f"| initial PL / QY (Table 2) | {paper['initial_nm']:.0f} nm / {paper['initial_qy_percent']:g} % | twin A0 "
        f"{ta[0].pl_peak_nm:.1f} nm, {qy[0]:g} % | {t2['initial']['wavelength_nm']:.1f} nm / "
        f"{t2['initial']['qy_percent']:.1f} % |",
        f"| early blue shift, bimodal PL (Fig. 3b) | blue shift, bimodal A2-A3 | twin A1 {ta[1].pl_peak_nm:.1f} nm; "
        f"bimodal {modes_twin(bim_twin)} | A1 {rows_run['A1']['peak_wavelength_nm']:.1f} nm; bimodal {modes(bim_run)} |",
        f"| brightest aliquot (Table 2) | {paper['brightest_nm']:.0f} nm / {paper['brightest_qy_percent']:g} % (A5) | "
        f"twin A5 {ta[5].pl_peak_nm:.1f} nm, {qy[5]:g} % | {brightest}: {t2['brightest']['wavelength_nm']:.1f} nm / "
        f"{t2['brightest']['qy_percent']:.1f} % |",
        f"| final PL / QY (Table 2) | {paper['final_nm']:.0f} nm / {paper['final_qy_percent']:g} % | twin A10 "
        f"{ta[-1].pl_peak_nm:.1f} nm, {qy[-1]:g} % | {t2['final']['wavelength_nm']:.1f} nm / {t2['final']['qy_percent']:.1f} % |",
        f"| PL FWHM A0 / A10 | not reported | {ta[0].fwhm_mev:.1f} / {ta[-1].fwhm_mev:.1f} meV | "
        f"{rows_run['A0']['fwhm_mev']:.1f} / {rows_run['A10']['fwhm_mev']:.1f} meV |",
        f"| TEM mean diameter before / after (Fig. 4) | {paper['tem_before_nm']} / {paper['tem_after_nm']} nm | "
        f"{paper['tem_before_nm']} / {paper['tem_after_nm']} nm | {tem_b['mean_diameter_nm']:.2f} ± {tem_b['std_diameter_nm']:.2f} nm "
        f"(n = {tem_b['count']}) / {tem_a['mean_diameter_nm']:.2f} ± {tem_a['std_diameter_nm']:.2f} nm (n = {tem_a['count']}) |",
        f"| MALDI molecular-ion band before (Fig. 5) | 38 kDa (2.8 nm) | {paper['ms_before_da'] / 1000:g} kDa | "
        f"{ms_b['modes'][0]['mass_da'] / 1000:.2f} kDa → {ms_b['modes'][0]['diameter_nm']:.2f} nm |",
        f"| MALDI bands after (Fig. 5) | 40 and 140 kDa (2.8 → 4.2 nm) | 40, {paper['ms_after_da'] / 1000:g} kDa | "
        + " and ".join(f"{m['mass_da'] / 1000:.1f} kDa → {m['diameter_nm']:.2f} nm" for m in ms_a["modes"]) + " |",
        f"| XRD of the product (Fig. S6: tetragonal kept) | phase only | Cd3P2, {paper['tem_after_nm']} nm | "
        f"{xrd['best_phase']} best phase (Rwp {best['rwp']:.3f}), Debye fit {best['diameter_nm']:.2f} nm |",
        f"| twin calibration: {', '.join(n.rsplit('.', 1)[1] for n in names)} | — | {truth} | {cal} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write the table into {DOC.name}")
    args = ap.parse_args(argv)
    body = table(run_example())
    if args.write:
        fill = _tool("paper_comparison").fill
        DOC.write_text(fill(DOC.read_text(encoding="utf-8"), {"example": body}), encoding="utf-8")
    else:
        sys.stdout.write(body + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
