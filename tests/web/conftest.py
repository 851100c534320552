"""A stored experiment with everything the dashboard shows, written straight into a throw-away record.

The PL spectra are Gaussians in photon energy (centre E0, sigma 0.08 eV) stored on a wavelength axis as a
proper spectral density, I(lambda) = G(E) E^2 / hc; one aliquot is stored on an energy axis. A wavelength
plot therefore peaks *below* E0's wavelength shift-free only after the Jacobian is applied on the way back.
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qdlab.store import AliquotRecord, CalibrationRecord, ExperimentRecord, MeasurementRecord, ResultRecord, Store
from qdlab.units import HC_EV_NM

PEAKS_EV = (1.227, 1.17, 1.10)
SIGMA_EV = 0.08


def gaussian_density_nm(lam_nm: np.ndarray, e0_ev: float) -> np.ndarray:
    """PL per nm of a line that is Gaussian per eV: I(lambda) = G(E) * E^2 / hc."""
    e = HC_EV_NM / lam_nm
    return 1000.0 * np.exp(-0.5 * ((e - e0_ev) / SIGMA_EV) ** 2) * e**2 / HC_EV_NM


def _file(root: Path, name: str, data: bytes) -> tuple[Path, str]:
    p = root / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p, hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lab")
    url = f"sqlite:///{root / 'lab.sqlite'}"
    lam = np.arange(800.0, 1500.0, 1.0)
    meas, results, rows, aliquots = [], [], [], []
    for i, e0 in enumerate(PEAKS_EV):
        a = f"A{i}"
        aliquots.append(AliquotRecord(a, i, 6.0 * i))
        if i == 2:  # this one was recorded on an energy axis (per eV)
            x = np.sort(HC_EV_NM / lam)
            y = 1000.0 * np.exp(-0.5 * ((x - e0) / SIGMA_EV) ** 2)
            unit = "ev"
        else:
            x, y, unit = lam, gaussian_density_nm(lam, e0), "nm"
        body = "\n".join(f"{u:.6f},{v:.6f}" for u, v in zip(x, y, strict=True)).encode()
        path, sha = _file(root / "exp", f"pl/{a}.csv", body)
        meas.append(MeasurementRecord("pl", f"pl/{a}.csv", len(body), sha, aliquot_label=a, path=path,
                                      arrays={"x": x, "y": y}))
        warnings = ["peak sits within 2 FWHM of the detector edge"] if i == 1 else []
        results.append(ResultRecord("spectra.analyze_pl", "ok", {"peak_wavelength_nm": HC_EV_NM / e0,
                                    "fwhm_mev": 188.4, "bimodal": False, "warnings": warnings},
                                    parameters={"x_unit": unit}, source_name=f"pl/{a}.csv", kind="pl"))
        ab = np.clip(1.2 - (lam - 900 - 60 * i) / 300, 0.0, 1.2)
        body = "\n".join(f"{u:.3f},{v:.5f}" for u, v in zip(lam, ab, strict=True)).encode()
        path, sha = _file(root / "exp", f"abs/{a}.csv", body)
        meas.append(MeasurementRecord("absorbance", f"abs/{a}.csv", len(body), sha, aliquot_label=a, path=path,
                                      arrays={"x": lam, "y": ab}))
        results.append(ResultRecord("spectra.analyze_absorbance", "ok", {"exciton_wavelength_nm": 960.0 + 60 * i},
                                    parameters={"x_unit": "nm"}, source_name=f"abs/{a}.csv", kind="absorbance"))
        rows.append({"aliquot": a, "time_min": 6.0 * i, "pl_peak_nm": HC_EV_NM / e0, "fwhm_mev": 188.4 - 10 * i,
                     "qy_percent": 13.0 + 6 * i, "bimodal": False, "exciton_nm": 960.0 + 60 * i})
    mz = np.linspace(4900, 5900, 2000)
    inten = 200 + 800 * np.exp(-0.5 * ((mz - 5096.47) / 8) ** 2)
    body = "\n".join(f"{u:.3f} {v:.2f}" for u, v in zip(mz, inten, strict=True)).encode()
    path, sha = _file(root / "exp", "ms/clusters.txt", body)
    meas.append(MeasurementRecord("ms", "ms/clusters.txt", len(body), sha, role="clusters", path=path,
                                  arrays={"mz": mz, "intensity": inten}))
    results.append(ResultRecord("ms.analyze", "ok", {"assigned": [{"mass_da": 5096.45, "n_candidates": 88, "candidates": [
        {"formula": "Cd22P12(OA)8+", "mass_da": 5096.47, "error_da": -0.02, "charge": 1}]}]},
        source_name="ms/clusters.txt", kind="ms"))
    diam = np.random.default_rng(1).normal(3.4, 0.35, 300)
    body = b"TIFF-stand-in"
    path, sha = _file(root / "exp", "tem/before.tif", body)
    meas.append(MeasurementRecord("tem", "tem/before.tif", len(body), sha, role="before", path=path,
                                  arrays={"diameter_nm": diam}))
    results.append(ResultRecord("tem.size_distribution", "ok", {"count": 300, "mean_diameter_nm": float(diam.mean()),
                                                                "std_diameter_nm": float(diam.std(ddof=1))},
                                source_name="tem/before.tif", kind="tem"))
    results.append(ResultRecord("twin.calibrate", "error", error="need PL peaks of at least 4 aliquots, got 3",
                                source_name=None))
    summary = {"aliquots": rows, "table2": {"initial": {"aliquot": "A0", "wavelength_nm": rows[0]["pl_peak_nm"],
                                                        "qy_percent": 13.0}}, "refused": [], "counts": {}}
    with Store(url) as store:
        out = store.save_experiment(ExperimentRecord(
            key="web-e2e", material="Cd3P2", manifest_sha256="0" * 64, fingerprint="e2e",
            title="Overgrowth of Cd3P2 on 1010 nm seeds (browser test)", seed_batch="QD-1010-A", synthetic=True,
            meta={"date": "2025-03-27", "operator": "test"}, summary=summary, aliquots=tuple(aliquots),
            measurements=tuple(meas), results=tuple(results),
            calibrations=(CalibrationRecord("overgrowth-1010nm", "ok",
                                            {"seeds.surface.etch_factor": {"value": 2.59, "stderr": 0.014, "unit": "1"}},
                                            {"predicted_time_min": [0.0, 6.0, 12.0],
                                             "predicted_pl_peak_nm": [1009.0, 1061.0, 1125.0], "reduced_chi2": 0.8,
                                             "n_points": 3}),),
        ))
    return {"url": url, "id": out.experiment_id, "root": root / "exp", "pl_peaks_ev": PEAKS_EV}


def _folder_zip(bad_file: bool = False, top: str = "exp/") -> bytes:
    """A small experiment folder (3 PL aliquots, Gaussian in energy) as zip bytes."""
    lam = np.arange(850.0, 1400.0, 2.0)
    toml = '[experiment]\nid = "uploaded"\ntitle = "Uploaded in the browser"\nsynthetic = true\n'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, peak in enumerate((1010.0, 1060.0, 1120.0)):
            y = 1000 * np.exp(-0.5 * ((HC_EV_NM / lam - HC_EV_NM / peak) / 0.05) ** 2) + 3
            text = "wavelength_nm,intensity\n" + "\n".join(f"{a:.4f},{b:.4f}" for a, b in zip(lam, y, strict=True))
            if bad_file and i == 1:
                text = "this is not a spectrum\n\x00\x01"
            zf.writestr(f"{top}pl/A{i}.csv", text)
            toml += f'\n[[aliquots]]\nid = "A{i}"\ntime_min = {5 * i}\npl = "pl/A{i}.csv"\n'
        zf.writestr(f"{top}experiment.toml", toml)
    return buf.getvalue()


@pytest.fixture
def folder_zip():
    """``folder_zip(bad_file=False, top="exp/")``: a small experiment folder (3 PL aliquots) as zip bytes."""
    return _folder_zip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(lab):
    """The app on a free local port (uvicorn in a thread); yields its base URL."""
    import uvicorn

    from qdlab.web import create_app

    port = _free_port()
    app = create_app(lab["url"], upload_scheduler="serial")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
