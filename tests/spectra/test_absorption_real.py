"""The absorbance analysis on real instrument files of the real-files corpus (``tests/data/real/spectra``).

Skipped where the corpus is not present (``QDLAB_REAL_DATA`` overrides its location). Truth: the files'
own content — a Cary's A = 10 overflow readings, a JASCO PbSe trace whose first exciton is the clear
maximum at ~1449 nm (the PL of the same batch peaks at 1452 nm), a Shimadzu MoS2 trace whose broad C-band
maximum is written with four decimals (a repeated top value, not saturation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qdlab.data.errors import InputError, ModelError
from qdlab.spectra.absorption import analyze_absorbance
from qdlab.spectra.checks import saturation
from qdlab.spectra.io import read_spectra

ROOT = Path(__file__).resolve().parents[1] / "data" / "real" / "spectra"
WT = ROOT / "WrightTools"


def _file(rel: str) -> Path:
    p = WT / rel
    assert p.is_file(), f"real-files corpus file missing: {p}"
    return p


def test_cary_overflow_readings_are_masked_and_no_exciton_invented() -> None:
    """600LP (a long-pass filter, Abs column): 25 readings of exactly 10 between 210 and 580 nm."""
    spec = read_spectra(_file("Cary/filters.csv"))[0]
    assert spec.label == "600LP" and spec.kind == "absorbance"
    mask, why, _ = saturation(spec)
    assert int(mask.sum()) == int(np.sum(spec.y >= 10)) == 25 and "A >= 10" in (why or "")
    # a filter edge is not an exciton (the old analysis reported one at 577.2 nm, fitted to overflow points)
    with pytest.raises(ModelError, match=r"no exciton found.*25 points.*saturated"):
        analyze_absorbance(spec)


def test_cary_transmittance_columns_are_not_absorbances() -> None:
    series = read_spectra(_file("Cary/filters.csv"))
    t = next(s for s in series if s.kind == "transmittance" and np.median(s.y) >= 10)
    with pytest.raises(InputError, match="not absorbances"):
        analyze_absorbance(t)


def test_jasco_pbse_first_exciton_not_a_solvent_line() -> None:
    spec = read_spectra(_file("JASCO/PbSe_batch_1.txt"), x_unit="nm")[0]
    r = analyze_absorbance(spec)
    assert r.exciton_wavelength_nm == pytest.approx(1449.0, abs=5.0)  # the trace's maximum: 0.4264 at 1449 nm
    assert 40 < r.exciton_fwhm_mev < 120 and r.exciton_snr > 50
    assert any("2295" in w and "narrower" in w for w in r.warnings)  # the 3-nm line at 2295 nm is skipped


def test_shimadzu_repeated_top_value_is_not_saturation() -> None:
    spec = read_spectra(_file("Shimadzu/MoS2_fromCzech2015.txt"), x_unit="nm", kind="absorbance")[0]
    mask, _, _ = saturation(spec)
    assert not mask.any()
    r = analyze_absorbance(spec)
    assert r.saturated_points == 0 and r.exciton_wavelength_nm == pytest.approx(692.0, abs=3.0)  # MoS2 A exciton
