import math

import numpy as np
import pytest

from qdlab.data.errors import InputError
from qdlab.data.types import Diffractogram
from qdlab.xrd.debye import debye_pattern
from qdlab.xrd.scherrer import scherrer_from_pattern, scherrer_size, shape_factor


def test_shape_factors_langford_wilson():
    assert shape_factor("integral") == pytest.approx(4 / 3, abs=1e-4)
    assert shape_factor("fwhm") == pytest.approx(1.0747)
    assert shape_factor("fwhm", "scherrer") == pytest.approx(2 * math.sqrt(math.log(2) / math.pi), abs=1e-4)


def test_formula_by_hand():
    r = scherrer_size(40.0, 1.0, 1.5406)
    expected_nm = 1.0747 * 1.5406 / (math.radians(1.0) * math.cos(math.radians(20.0))) / 10
    assert r.diameter_nm == pytest.approx(expected_nm)
    assert r.k == 1.0747 and r.breadth_type == "fwhm" and r.size_definition == "sphere diameter"


def test_instrument_corrections():
    assert scherrer_size(40, 2.0, 1.54, instrument_breadth_deg=1.0).corrected_breadth_deg == pytest.approx(math.sqrt(3))
    assert scherrer_size(40, 2.0, 1.54, instrument_breadth_deg=1.0, correction="lorentzian").corrected_breadth_deg == 1.0
    assert scherrer_size(40, 2.0, 1.54, instrument_breadth_deg=1.0, correction="voigt").corrected_breadth_deg == 1.5
    with pytest.raises(InputError):
        scherrer_size(40, 1.0, 1.54, instrument_breadth_deg=1.0)


@pytest.mark.parametrize("d_nm", [3.0, 5.0])
def test_scherrer_on_debye_pattern_recovers_diameter(d_nm):
    p = debye_pattern(d_nm, np.arange(20, 80, 0.02))
    res, fit = scherrer_from_pattern(Diffractogram(p.two_theta_deg, p.intensity, p.wavelength_angstrom))
    assert res.diameter_nm == pytest.approx(d_nm, rel=0.05)
    assert 41.0 < fit.center_deg < 41.5
