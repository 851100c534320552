"""A small experiment folder: Gaussian PL bands (in energy) with known peaks, as two-column CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qdlab.units import HC_EV_NM

#: Ground truth of the folder: PL peak (nm) and Gaussian sigma (eV) per aliquot.
PEAKS_NM = (1010.0, 1100.0)
SIGMA_EV = 0.04


def write_folder(root: Path, peaks_nm: tuple[float, ...] = PEAKS_NM, key: str = "small") -> Path:
    (root / "pl").mkdir(parents=True, exist_ok=True)
    lam = np.arange(850.0, 1300.0, 3.0)
    entries = []
    for i, peak in enumerate(peaks_nm):
        e = HC_EV_NM / lam
        y = 1000 * np.exp(-0.5 * ((e - HC_EV_NM / peak) / SIGMA_EV) ** 2) + 5
        np.savetxt(root / "pl" / f"A{i}.csv", np.c_[lam, y], delimiter=",", header="wavelength_nm,intensity",
                   comments="", fmt="%.5f")
        entries.append(f'\n[[aliquots]]\nid = "A{i}"\ntime_min = {10 * i}\npl = "pl/A{i}.csv"\nqy_percent = {12 + i}\n')
    (root / "experiment.toml").write_text(f'[experiment]\nid = "{key}"\nmaterial = "Cd3P2"\n' + "".join(entries))
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "exp")


@pytest.fixture
def make_folder():
    """The folder writer, to rewrite files in a test."""
    return write_folder


@pytest.fixture
def truth() -> dict[str, object]:
    """Ground truth of :func:`write_folder`."""
    return {"peaks_nm": PEAKS_NM, "sigma_ev": SIGMA_EV}
