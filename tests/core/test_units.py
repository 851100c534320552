import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qdlab import units
from qdlab.data import InputError, Spectrum


def test_hc_and_round_trip():
    assert units.wavelength_nm_to_energy_ev(1239.841984) == pytest.approx(1.0, abs=1e-12)
    assert units.energy_ev_to_wavelength_nm(2.0) == pytest.approx(619.920992, rel=1e-9)


def test_paper_cluster_stokes_shift():
    # reference paper: MSC absorption 447 nm, PL 455 nm, "Stokes shift of 48 meV"
    assert units.stokes_shift_mev(447, 455) == pytest.approx(48.77, abs=0.01)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_rejects_non_positive(bad):
    with pytest.raises(InputError):
        units.wavelength_nm_to_energy_ev(bad)


def test_fwhm_conversion_exact_edges():
    # a 100 meV wide band at 1.0 eV spans 1180.8-1305.1 nm
    w = units.fwhm_ev_to_nm(1.0, 0.1)
    assert w == pytest.approx(1239.841984 / 0.95 - 1239.841984 / 1.05, rel=1e-12)
    assert units.fwhm_nm_to_ev(1239.841984, w) == pytest.approx(
        1239.841984 / (1239.841984 - w / 2) - 1239.841984 / (1239.841984 + w / 2)
    )


def test_jacobian_conserves_area():
    lam = np.linspace(800, 1600, 4001)
    e = units.HC_EV_NM / lam
    y = np.exp(-0.5 * ((e - 1.1) / 0.04) ** 2)  # Gaussian in energy, sampled per nm
    # build the per-nm density that corresponds to a unit-area energy Gaussian
    y_lam = y / (0.04 * np.sqrt(2 * np.pi)) * units.HC_EV_NM / lam**2
    ee, ye = units.spectrum_to_energy(lam, y_lam)
    assert np.all(np.diff(ee) > 0)
    assert np.trapezoid(ye, ee) == pytest.approx(1.0, rel=1e-4)
    assert np.trapezoid(y_lam, lam) == pytest.approx(1.0, rel=1e-4)
    # and the peak sits at 1.1 eV only in energy space
    assert ee[np.argmax(ye)] == pytest.approx(1.1, abs=1e-3)
    assert units.HC_EV_NM / lam[np.argmax(y_lam)] > 1.1  # the per-nm density peaks to the blue


@given(st.floats(min_value=100, max_value=20000, allow_nan=False))
def test_wavelength_energy_round_trip(lam):
    assert units.energy_ev_to_wavelength_nm(units.wavelength_nm_to_energy_ev(lam)) == pytest.approx(lam, rel=1e-12)


def test_spectrum_axis_round_trip_pl_and_absorbance():
    lam = np.linspace(400, 700, 301)
    y = np.exp(-0.5 * ((lam - 550) / 20) ** 2)
    s = Spectrum(lam, y, "nm", "pl")
    back = s.to_energy().to_wavelength()
    np.testing.assert_allclose(back.x, lam, rtol=1e-12)
    np.testing.assert_allclose(back.y, y, rtol=1e-10, atol=1e-14)
    a = Spectrum(lam, y, "nm", "absorbance").to_energy()
    # absorbance: no Jacobian, values only reordered
    np.testing.assert_allclose(np.sort(a.y), np.sort(y))
    w = Spectrum(units.energy_ev_to_wavenumber_cm(units.wavelength_nm_to_energy_ev(lam)), y, "cm-1", "absorbance")
    np.testing.assert_allclose(w.to_wavelength().x, lam, rtol=1e-9)


def test_spectrum_validation():
    with pytest.raises(InputError, match="x has 3 points"):
        Spectrum([1, 2, 3], [1, 2], "nm", "pl")
    with pytest.raises(InputError, match="unknown x unit"):
        Spectrum([1, 2], [1, 2], "um", "pl")
