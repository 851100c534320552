#!/usr/bin/env python
"""Generate ``examples/overgrowth-1010nm/``: a SYNTHETIC experiment folder in real instrument formats.

Everything is made by qdlab's own generators, with noise, from the digital twin's ``overgrowth-1010nm``
scenario (the paper's overgrowth on 1010 nm-emitting Cd3P2 QDs):

* PL of each aliquot (Ocean Optics text export, counts with Poisson noise and a dark offset) and
  absorbance (Cary CSV, with Gaussian noise), from ``qdlab.twin.simulate``; the PL files cover the
  spectrometer range ``PL_WINDOW_NM``, which must lie inside the scenario's ``[observation] pl_window_nm``
  (the window the twin reads its peak, FWHM and bimodality in) and keep every half-maximum crossing of the
  twin's band, so that the twin's aliquot summary is also the read-out of the files (checked on writing);
* integrating-sphere scans (two-step: blank + sample, Ocean Optics text) from
  ``qdlab.spectra.synth.synth_sphere`` with PLQYs interpolated between the paper's reported ones;
* MALDI-TOF raw data as Bruker flex folders (``qdlab.ms.synth`` + ``qdlab.ms.write_flex``): the cluster
  fragments of Table 1 (reflectron) and the molecular-ion bands before/after overgrowth (Fig. 5, linear);
* TEM bright-field micrographs as calibrated TIFFs (``qdlab.tem.synth_micrograph`` + ``write_tiff``)
  with the paper's mean sizes before/after (3.4 and 5.0 nm, Fig. 4);
* a powder XRD scan of the product as ``.xy`` (``qdlab.xrd.simulate_measurement`` + ``write_xy``).

Run from the project root: ``.venv/bin/python tools/make_example.py [--out DIR] [--seed N]``.
The output is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

NAME = "overgrowth-1010nm"
SCENARIO = "overgrowth-1010nm"
#: The paper's reported values for this experiment (Table 2, text, Figs. 4-5).
PAPER = {
    "source": "Tiwari, Liang, Fedin, Nanoscale 2025, 17, 12654: Table 2, Figs. 3b, 4, 5",
    "initial_nm": 1010.0, "initial_qy_percent": 13.0,
    "brightest_nm": 1113.0, "brightest_qy_percent": 26.0,
    "final_nm": 1277.0, "final_qy_percent": 14.8,
    "tem_before_nm": 3.4, "tem_after_nm": 5.0,
    "ms_before_da": 38000.0, "ms_after_da": 140000.0,
}
#: PLQY (%) per aliquot A0..A10 used to make the sphere scans: the paper's anchors (A0 13 %, brightest A5
#: 26 %, "brighter than the original until A9", final 14.8 %) joined smoothly. Synthetic, not measured.
#: Anchored by aliquot (the paper's brightest aliquot is A5), not by wavelength: the twin's A5 emits at
#: 1155 nm where the paper's A5 is at 1113 nm (the twin's A4 is at 1123 nm).
QY_PERCENT = (13.0, 15.5, 18.5, 21.5, 24.5, 26.0, 23.0, 19.5, 16.0, 12.5, 14.8)
PL_WINDOW_NM = (850.0, 1700.0)   # InGaAs spectrometer range of the PL files (inside the scenario's pl_window_nm)
PL_PEAK_COUNTS = 12000.0         # counts at the PL maximum of A0 (integration time chosen for that)
DARK_COUNTS = 80.0
ABS_NOISE_OD = 0.002
SPHERE_ABSORPTANCE = 0.25


def _noisy_counts(rng: np.random.Generator, y: np.ndarray, scale: float) -> np.ndarray:
    lam = np.clip(y * scale, 0, None) + DARK_COUNTS
    return rng.poisson(lam).astype(float)


def make(out: Path, seed: int = 7) -> Path:
    from qdlab import spectra, tem, twin, xrd
    from qdlab.data.types import Spectrum
    from qdlab.ms import write_flex
    from qdlab.ms.synth import molecular_ion_band, table1_spectrum
    from qdlab.spectra.synth import synth_sphere

    rng = np.random.default_rng(seed)
    if out.exists():
        shutil.rmtree(out)
    for sub in ("pl", "abs", "plqy", "ms", "tem", "xrd"):
        (out / sub).mkdir(parents=True)

    sim = twin.simulate(SCENARIO)
    _check_window(sim)
    pl, ab = sim.pl, sim.absorbance
    ref_max = float(np.max(pl[0].y))
    aliquots = []
    for i, (a, s_pl, s_ab) in enumerate(zip(sim.aliquots, pl, ab, strict=True)):
        qy = QY_PERCENT[i] / 100.0
        win = (s_pl.x >= PL_WINDOW_NM[0]) & (s_pl.x <= PL_WINDOW_NM[1])
        scale = PL_PEAK_COUNTS / ref_max * (qy / (QY_PERCENT[0] / 100.0))
        counts = _noisy_counts(rng, s_pl.y[win], scale)
        meta = {"aliquot_id": a.aliquot_id, "time_min": a.time_min}
        spectra.write_ocean_optics(out / "pl" / f"{a.aliquot_id}.txt",
                                   Spectrum(s_pl.x[win], counts, "nm", "pl", meta, a.aliquot_id), integration_time_s=0.5)
        od = s_ab.y * 0.8 + rng.normal(0.0, ABS_NOISE_OD, s_ab.y.size)
        spectra.write_cary_csv(out / "abs" / f"{a.aliquot_id}.csv",
                               Spectrum(s_ab.x, od, "nm", "absorbance", meta, a.aliquot_id))
        scans = synth_sphere(qy, SPHERE_ABSORPTANCE, emission_nm=a.pl_peak_nm, emission_fwhm_mev=a.fwhm_mev,
                             response=None, n_points=900, range_nm=(700.0, 1700.0))
        for role in ("sample",) + (("blank",) if i == 0 else ()):
            sc = scans[role]
            y = rng.poisson(np.clip(sc.y, 0, None)).astype(float)
            name = "blank" if role == "blank" else a.aliquot_id
            spectra.write_ocean_optics(out / "plqy" / f"{name}.txt",
                                       Spectrum(sc.x, y, "nm", "pl", {"aliquot_id": name}, name), integration_time_s=1.0)
        aliquots.append((a.aliquot_id, a.time_min))

    clusters = table1_spectrum(seed=seed)
    write_flex(out / "ms" / "clusters", clusters.spectrum, mode="reflectron")
    before = molecular_ion_band(modes_da=(PAPER["ms_before_da"],), relative_widths=0.15, seed=seed)
    write_flex(out / "ms" / "before", before.spectrum, mode="linear")
    after = molecular_ion_band(modes_da=(40000.0, PAPER["ms_after_da"]), relative_widths=0.15,
                               amplitudes=(600.0, 1000.0), seed=seed + 1)
    write_flex(out / "ms" / "after", after.spectrum, mode="linear")

    for role, d_nm, count in (("before", PAPER["tem_before_nm"], 75), ("after", PAPER["tem_after_nm"], 45)):
        res = tem.synth_micrograph(count=count, mean_diameter_nm=d_nm, std_diameter_nm=0.1 * d_nm, size_px=512,
                                   nm_per_px=0.15, seed=seed + (role == "after"))
        tem.write_tiff(out / "tem" / f"{role}.tif", res.micrograph)

    pattern = xrd.simulate_measurement(PAPER["tem_after_nm"], seed=seed)
    xrd.write_xy(pattern.diffractogram, out / "xrd" / "after.xy")

    shutil.copy(Path(__file__).resolve().parents[1] / "src/qdlab/resources/recipes/overgrowth.toml", out / "recipe.toml")
    _write_manifest(out, aliquots)
    _write_readme(out, sim)
    return out


def _check_window(sim: object) -> None:
    """Refuse a PL window that would make the files disagree with the twin's aliquot summary.

    The twin reads peak, FWHM and bimodality inside the scenario's ``[observation] pl_window_nm``; the
    files hold ``PL_WINDOW_NM``. They describe the same band when the file window lies inside the
    scenario's and contains both half-maximum crossings of every aliquot's band.
    """
    from qdlab.signal import half_max_width
    from qdlab.units import HC_EV_NM

    obs = sim.scenario.observation.pl_window_nm  # type: ignore[attr-defined]
    if obs is not None and not (obs[0] <= PL_WINDOW_NM[0] < PL_WINDOW_NM[1] <= obs[1]):
        raise SystemExit(f"PL_WINDOW_NM {PL_WINDOW_NM} is not inside the scenario's pl_window_nm {tuple(obs)}")
    for a, s in zip(sim.aliquots, sim.pl, strict=True):  # type: ignore[attr-defined]
        win = (s.x >= PL_WINDOW_NM[0]) & (s.x <= PL_WINDOW_NM[1])
        e, y = HC_EV_NM / s.x[win][::-1], (s.y[win] * s.x[win] ** 2)[::-1]  # per-energy density
        fw = 1000 * half_max_width(e, y)
        if not abs(fw - a.fwhm_mev) < 0.5:
            raise SystemExit(f"{a.aliquot_id}: the band's FWHM in the files' window is {fw:.1f} meV, the twin's "
                             f"{a.fwhm_mev:.1f} meV: widen PL_WINDOW_NM")


def _write_manifest(out: Path, aliquots: list[tuple[str, float]]) -> None:
    lines = [
        "# SYNTHETIC example experiment generated by tools/make_example.py (qdlab's twin and generators).",
        "# Not measured data. Run it with: qdlab run examples/overgrowth-1010nm",
        "",
        "[experiment]",
        f'id = "{NAME}-synthetic"',
        'title = "Overgrowth of Cd3P2 MSCs on 1010 nm-emitting Cd3P2 QDs (synthetic example)"',
        'material = "Cd3P2"',
        'date = "2025-03-27"',
        'operator = "qdlab tools/make_example.py"',
        'seed_batch = "QD-1010-A (hot injection 215 C, 55 s)"',
        "synthetic = true",
        'notes = "Generated from the twin scenario overgrowth-1010nm with noise; see README.md."',
        "",
        "[recipe]",
        'file = "recipe.toml"',
        f'scenario = "{SCENARIO}"',
        "",
        "[reference]",
        *(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in PAPER.items()),
        "",
    ]
    for i, (aid, t) in enumerate(aliquots):
        lines += [
            "[[aliquots]]", f'id = "{aid}"', f"time_min = {t:g}", f'pl = "pl/{aid}.txt"', f'absorbance = "abs/{aid}.csv"',
            f'plqy = {{ method = "two_step", blank = "plqy/blank.txt", sample = "plqy/{aid}.txt", excitation_nm = 808, emission_window_nm = [850, 1700] }}',
            f"qy_percent = {QY_PERCENT[i]}  # the value the sphere scans were made with (paper anchors, interpolated)",
            "",
        ]
    for kind, entries in (
        ("ms", [("ms/clusters", "clusters", "reflectron"), ("ms/before", "before", "linear"), ("ms/after", "after", "linear")]),
        ("tem", [("tem/before.tif", "before", None), ("tem/after.tif", "after", None)]),
        ("xrd", [("xrd/after.xy", "after", None)]),
    ):
        for path, role, mode in entries:
            lines += [f"[[{kind}]]", f'path = "{path}"', f'role = "{role}"'] + ([f'mode = "{mode}"'] if mode else []) + [""]
    (out / "experiment.toml").write_text("\n".join(lines), encoding="utf-8")


def _write_readme(out: Path, sim: object) -> None:
    rows = "\n".join(
        f"| {a.aliquot_id} | {a.time_min:g} | {a.pl_peak_nm:.0f} | {a.fwhm_mev:.0f} | {'yes' if a.bimodal else 'no'} "
        f"| {a.mean_diameter_nm:.2f} | {100 * a.secondary_fraction:.0f} | {QY_PERCENT[i]:g} |"
        for i, a in enumerate(sim.aliquots)  # type: ignore[attr-defined]
    )
    text = f"""# Example: overgrowth on 1010 nm-emitting Cd3P2 QDs — SYNTHETIC DATA

**Every file in this folder is synthetic.** It was generated by `tools/make_example.py` from qdlab's
digital twin (scenario `{SCENARIO}`) and the domains' synthetic generators, with instrument-like noise.
Nothing here was measured. It exists so that `qdlab run examples/{NAME}` (and `make demo`) can show the
whole pipeline on files in real instrument formats.

| files | format | made by |
|---|---|---|
| `pl/A*.txt` | Ocean Optics text export (counts, Poisson noise, dark offset) | `qdlab.twin.simulate` PL |
| `abs/A*.csv` | Cary UV-Vis-NIR CSV (absorbance, Gaussian noise {ABS_NOISE_OD} OD) | `qdlab.twin.simulate` absorbance |
| `plqy/blank.txt`, `plqy/A*.txt` | Ocean Optics text; two-step integrating-sphere scans (response-corrected) | `qdlab.spectra.synth.synth_sphere` |
| `ms/clusters/`, `ms/before/`, `ms/after/` | Bruker flex acquisitions (`fid` + `acqus`) | `qdlab.ms.synth` + `qdlab.ms.write_flex` |
| `tem/before.tif`, `tem/after.tif` | calibrated TIFF (0.15 nm/px) | `qdlab.tem.synth_micrograph` + `write_tiff` |
| `xrd/after.xy` | two-column `.xy` (2θ, counts; Cu Kα) | `qdlab.xrd.simulate_measurement` + `write_xy` |
| `recipe.toml` | qdlab recipe | `src/qdlab/resources/recipes/overgrowth.toml` |

## The twin's aliquots (ground truth of the PL/absorbance files)

| aliquot | time (min) | PL peak (nm) | FWHM (meV) | bimodal PL | mean diameter (nm) | secondary QDs (% by number) | PLQY used (%) |
|---|---|---|---|---|---|---|---|
{rows}

Peak, FWHM and bimodality are the twin's read-out of its QD band inside the scenario's detector window
(`[observation] pl_window_nm`); the PL files hold {PL_WINDOW_NM[0]:.0f}-{PL_WINDOW_NM[1]:.0f} nm, which contains
both half-maximum crossings of every aliquot's band, so the files and the table describe the same band.
The mean diameter is the number mean over all QDs, including the secondary QDs that MSC-MSC coalescence
nucleates (the short-wavelength band of the bimodal aliquots). Being a number mean it is dominated by
them: it is neither what the PL peak reports nor the TEM size (the TEM files use the paper's sizes).

The PLQYs are not modelled by the twin: they join the paper's anchor values (A0 13 %, brightest A5 26 %,
final 14.8 %) smoothly and are written into the sphere scans and, for reference, as `qy_percent` in
`experiment.toml`.

## What the paper reports for this experiment (for comparison)

Tiwari, Liang, Fedin, *Nanoscale* 2025, **17**, 12654:

- Table 2: initial 1010 nm, QY 13 %; brightest aliquot 1113 nm, QY 26 %; final 1277 nm, QY 15 % (14.8 % in the text).
- Fig. 3b/text: slight blue shift at the start, bimodal PL in A2–A3, then a steady red shift (the twin
  shows the dip at A1 and the bimodal PL one aliquot later, in A3–A4).
- Fig. 4: TEM mean diameter 3.4 nm before and 5.0 nm after the overgrowth.
- Fig. 5: MALDI molecular-ion band at about 38 000 Da before; bands at 40 000 and 140 000 Da after.
- Text: powder XRD of the product keeps the tetragonal Cd3P2 structure (Fig. S6).

These values are also in the manifest's `[reference]` table and appear beside qdlab's results in the report.
"""
    (out / "README.md").write_text(text, encoding="utf-8")
    # a run of the example writes its report inside the folder by default; keep it out of git
    (out / ".gitignore").write_text("report/\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / NAME)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    out = make(args.out, args.seed)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
