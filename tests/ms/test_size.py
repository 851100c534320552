"""qdlab.ms.size on the signal core: modes, widths at half prominence (scipy's definition), valleys."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from qdlab.data.types import MassSpectrum
from qdlab.ms import molecular_ion_size


def band(mz, modes):
    return sum(h * np.exp(-0.5 * (np.log(mz / m) / s) ** 2) for m, s, h in modes)


def test_modes_widths_and_valley_split_against_scipy():
    mz = np.linspace(10_000, 250_000, 60_000)
    y = 5 + band(mz, [(40_000, 0.12, 1.0), (140_000, 0.12, 0.8)])
    res = molecular_ion_size(MassSpectrum(mz, y), baseline=False, smooth_fwhm_fraction=0.01)
    assert [m.mass_da for m in res.modes] == pytest.approx([40_000, 140_000], rel=2e-3)
    grid, ys = np.log(res.mass_da), res.band
    idx, _ = sps.find_peaks(ys, prominence=0.1 * ys.max())
    _w, _h, left, right = sps.peak_widths(ys, idx, rel_height=0.5)
    for k, m in enumerate(res.modes):
        lo, hi = np.exp(np.interp([left[k], right[k]], np.arange(grid.size), grid))
        assert m.fwhm_da == pytest.approx(hi - lo, rel=1e-9) and not m.fwhm_truncated
    valley = idx[0] + int(np.argmin(ys[idx[0]: idx[1] + 1]))
    area = np.clip(ys, 0, None) * res.mass_da
    first = np.trapezoid(area[: valley + 1], grid[: valley + 1])
    assert res.modes[0].area_fraction == pytest.approx(first / (first + np.trapezoid(area[valley:], grid[valley:])))


def test_mode_whose_half_prominence_reaches_past_the_valley_is_flagged():
    # two close modes: the strong one's half-prominence level lies below the valley, so scipy's width would
    # run through the weaker mode; here it is cut at the valley and flagged as a lower bound
    mz = np.linspace(10_000, 120_000, 40_000)
    y = band(mz, [(40_000, 0.09, 1.0), (52_000, 0.09, 0.75)])
    res = molecular_ion_size(MassSpectrum(mz, y), baseline=False, smooth_fwhm_fraction=0.01)
    strong, weak = res.modes
    assert strong.fwhm_truncated and "lower bound" in strong.note
    assert not weak.fwhm_truncated
    idx, _ = sps.find_peaks(res.band, prominence=0.1 * res.band.max())
    w_scipy = sps.peak_widths(res.band, idx, rel_height=0.5)[0]
    assert w_scipy[0] > 2 * w_scipy[1]  # scipy's width of the strong mode spans both
    assert strong.diameter_range_nm[1] < weak.diameter_nm
