"""Powder patterns of other materials made by pymatgen's XRDCalculator (independent of qdlab's Debye model).

Each stick is broadened by a Gaussian of the Scherrer FWHM of a sphere, K_w = 1.0747 (Langford & Wilson,
J. Appl. Cryst. 11, 102 (1978)), for the given diameter; a smooth background and Poisson noise are added.
This is a different model from the one qdlab fits (Debye equation of spheres cut from the crystal), so it
tests the analysis under a model it does not assume.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from qdlab.data.types import Diffractogram

K_SPHERE_FWHM = 1.0747
WAVELENGTH_ANGSTROM = 1.540598


@functools.cache
def structure(name: str):
    """A pymatgen Structure built from a space group and literature lattice constants."""
    from pymatgen.core import Lattice, Structure

    if name == "CdS":  # zinc blende, a = 5.818 A
        return Structure.from_spacegroup("F-43m", Lattice.cubic(5.818), ["Cd", "S"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    if name == "Si":  # diamond, a = 5.431 A
        return Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]])
    if name == "NaCl":  # rock salt, a = 5.640 A
        return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.640), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    if name == "CdO":  # rock salt, a = 4.695 A
        return Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.695), ["Cd", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    if name == "Cd3P2":  # qdlab's derived tetragonal cell (the structure, not the pattern model)
        from qdlab.xrd.structure import phase_structure

        return phase_structure("Cd3P2")
    raise KeyError(name)


def sticks(name: str, lo: float = 10.0, hi: float = 85.0) -> tuple[np.ndarray, np.ndarray]:
    """(2-theta in deg, relative intensity) of pymatgen's XRDCalculator for Cu K-alpha1."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    pat = XRDCalculator(wavelength=WAVELENGTH_ANGSTROM).get_pattern(structure(name), two_theta_range=(lo, hi))
    return np.asarray(pat.x), np.asarray(pat.y)


def scherrer_fwhm_deg(two_theta_deg: np.ndarray | float, diameter_nm: float) -> np.ndarray:
    """FWHM (deg 2-theta) of a line of spheres of ``diameter_nm``: K_w lambda / (D cos theta)."""
    theta = np.radians(np.asarray(two_theta_deg) / 2)
    return np.degrees(K_SPHERE_FWHM * WAVELENGTH_ANGSTROM / (10 * diameter_nm * np.cos(theta)))


def pattern(
    name: str, diameter_nm: float, *, peak_counts: float = 2000.0, seed: int = 0, step_deg: float = 0.02,
    lo: float = 10.0, hi: float = 80.0, noise: bool = True,
) -> Diffractogram:
    """Scherrer-broadened pymatgen pattern with background and Poisson noise, as a Diffractogram."""
    tt = np.arange(lo, hi + step_deg / 2, step_deg)
    x, y = sticks(name, lo - 5, hi + 5)
    sig = scherrer_fwhm_deg(x, diameter_nm) / (2 * math.sqrt(2 * math.log(2)))
    prof = (y[:, None] * np.exp(-0.5 * ((tt[None, :] - x[:, None]) / sig[:, None]) ** 2)).sum(0)
    prof *= peak_counts / prof.max()
    background = 150.0 + 400.0 * np.exp(-(tt - lo) / 12.0)
    mean = prof + background
    counts = np.random.default_rng(seed).poisson(mean).astype(float) if noise else mean
    return Diffractogram(tt, counts, WAVELENGTH_ANGSTROM, meta={"source": f"pymatgen {name} {diameter_nm} nm"})
