"""Isotope envelopes of heavy, Cd-rich ions at 1-Da (nominal-mass) resolution.

Cd has eight stable isotopes; enumerating the fine structure of Cd32P20(OA)5 is hopeless, but
MALDI-TOF only resolves nominal-mass bins (or not even those: the envelope is ~25 Da wide). We
therefore compute, for every nominal-mass bin k, the probability ``P[k]`` and the probability-weighted
mass ``Q[k]`` exactly, by convolving per-element distributions in Fourier space:

* one atom: ``P_e[k]`` = abundance of the isotope with mass number ``A_min + k``, ``Q_e[k] = P_e[k] m_k``;
* n atoms: ``P -> P^n`` and ``Q -> n Q P^(n-1)`` (product rule on the generating function);
* two groups: ``P = P_1 P_2``, ``Q = Q_1 P_2 + P_1 Q_2``.

The mean mass of a bin is ``Q[k]/P[k]``. This is the "aggregated isotopic variant" of Rockwood et
al. (Anal. Chem. 1995) computed with one FFT per element, O(L log L) in the span L of the envelope.
Tests compare it with IsoSpecPy's fine-structure distribution summed into the same bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qdlab.chem.formula import Formula, parse_formula
from qdlab.chem.weights import isotopes
from qdlab.data.types import Result
from qdlab.signal import half_max_width
from qdlab.units import constant


@dataclass(frozen=True, eq=False)
class IsotopeEnvelope(Result):
    """Nominal-mass-binned isotope distribution of an ion.

    Attributes
    ----------
    formula
        Hill formula with charge.
    nominal_mass
        Integer mass number of each bin (sum of isotope mass numbers).
    mass_da
        Probability-weighted mean exact mass of each bin (Da; electrons removed for cations).
    probability
        Probability of each bin (sums to ~1 over the kept bins).
    charge
        Charge of the ion; m/z = ``mass_da / |charge|``.
    """

    formula: str
    nominal_mass: NDArray[np.int64]
    mass_da: NDArray[np.float64]
    probability: NDArray[np.float64]
    charge: int = 0

    @property
    def mz(self) -> NDArray[np.float64]:
        """m/z of each bin."""
        return self.mass_da / max(abs(self.charge), 1)

    @property
    def average_da(self) -> float:
        """Isotope-averaged mass (Da) over the kept bins."""
        return float(np.sum(self.mass_da * self.probability) / np.sum(self.probability))

    @property
    def most_abundant_da(self) -> float:
        """Mean mass of the most probable nominal-mass bin (Da)."""
        return float(self.mass_da[np.argmax(self.probability)])

    @property
    def std_da(self) -> float:
        """Standard deviation of the envelope (Da)."""
        p = self.probability / self.probability.sum()
        mu = float(np.sum(self.mass_da * p))
        return float(np.sqrt(np.sum(p * (self.mass_da - mu) ** 2)))

    @property
    def fwhm_da(self) -> float:
        """Full width at half maximum of the binned envelope (Da), by linear interpolation."""
        return half_max_width(self.mass_da, self.probability)

    def to_dict(self) -> dict:
        return {
            "formula": self.formula,
            "charge": self.charge,
            "average_da": self.average_da,
            "most_abundant_da": self.most_abundant_da,
            "envelope_fwhm_da": self.fwhm_da,
            "envelope_std_da": self.std_da,
            "bins": {
                "nominal_mass": self.nominal_mass.tolist(),
                "mass_da": self.mass_da.tolist(),
                "probability": self.probability.tolist(),
            },
        }


def _element_arrays(symbol: str) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    iso = isotopes(symbol)
    a0 = int(iso.mass_number.min())
    span = int(iso.mass_number.max()) - a0 + 1
    p = np.zeros(span)
    q = np.zeros(span)
    for a, m, ab in zip(iso.mass_number, iso.mass_da, iso.abundance, strict=True):
        p[a - a0] += ab
        q[a - a0] += ab * m
    return a0, p, q


def isotope_envelope(
    formula: str | Formula, *, charge: int | None = None, min_probability: float = 1e-9
) -> IsotopeEnvelope:
    """Nominal-mass isotope envelope of ``formula``.

    Parameters
    ----------
    formula
        Text (``"Cd32P20(OA)5+"``) or :class:`~qdlab.chem.formula.Formula`.
    charge
        Override the formula's charge.
    min_probability
        Bins with probability below this fraction of the largest bin are dropped.

    Examples
    --------
    >>> env = isotope_envelope("Cd32P20(OA)5")
    >>> 5615 < env.most_abundant_da < 5625
    True
    >>> 20 < env.fwhm_da < 30
    True
    """
    f = parse_formula(formula) if isinstance(formula, str) else formula
    z = f.charge if charge is None else int(charge)
    parts = []
    base = 0
    span = 1
    for el, n in f.counts.items():
        a0, p, q = _element_arrays(el)
        parts.append((n, p, q))
        base += n * a0
        span += n * (p.size - 1)
    nfft = 1 << int(np.ceil(np.log2(max(span, 2))))
    fp_total = np.ones(nfft // 2 + 1, dtype=complex)
    fq_total = np.zeros(nfft // 2 + 1, dtype=complex)
    for n, p, q in parts:
        fp = np.fft.rfft(p, nfft)
        fq = np.fft.rfft(q, nfft)
        fp_nm1 = fp ** (n - 1)
        fpn = fp_nm1 * fp
        fqn = n * fq * fp_nm1
        fq_total = fq_total * fpn + fp_total * fqn
        fp_total = fp_total * fpn
    prob = np.fft.irfft(fp_total, nfft)[:span]
    qm = np.fft.irfft(fq_total, nfft)[:span]
    keep = prob > prob.max() * max(min_probability, 1e-14)
    idx = np.nonzero(keep)[0]
    prob = prob[idx]
    mass = qm[idx] / prob - z * constant("electron_mass_da")
    return IsotopeEnvelope(
        formula=f.with_charge(z).hill(),
        nominal_mass=(base + idx).astype(np.int64),
        mass_da=mass,
        probability=prob,
        charge=z,
    )


__all__ = ["IsotopeEnvelope", "isotope_envelope"]
