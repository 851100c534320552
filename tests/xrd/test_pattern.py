import numpy as np
import pytest

from qdlab.data.errors import InputError
from qdlab.xrd.pattern import reference_pattern, wavelength_angstrom


def d_tetragonal(h, k, l, a, c):  # noqa: E741
    return 1 / np.sqrt((h * h + k * k) / a**2 + l * l / c**2)


def test_cd3p2_reflections_obey_bragg_and_cell():
    ref = reference_pattern("Cd3P2")
    wl = wavelength_angstrom("CuKa1")
    for r in ref.reflections:
        assert r.d_angstrom == pytest.approx(d_tetragonal(*r.hkl, 8.76, 12.30), rel=1e-9)
        assert r.two_theta_deg == pytest.approx(2 * np.degrees(np.arcsin(wl / (2 * r.d_angstrom))), abs=1e-6)
    top = ref.strongest(1)[0]
    # the (220) reflection of the fluorite subcell: (224)/(400) of the tetragonal cell, d ~ c/(2 sqrt2)
    assert top.hkl in {(2, 2, 4), (4, 0, 0)} and 41.0 < top.two_theta_deg < 41.5
    assert max(r.relative_intensity for r in ref.reflections) == pytest.approx(100)


def test_cdo_rock_salt_peaks():
    ref = reference_pattern("CdO")
    r111 = next(r for r in ref.reflections if r.hkl == (1, 1, 1))
    assert r111.d_angstrom == pytest.approx(4.695 / np.sqrt(3))
    assert r111.multiplicity == 8


def test_other_wavelength_keeps_d_spacings():
    cu = {r.hkl: r.d_angstrom for r in reference_pattern("Cd3P2").reflections}
    mo = reference_pattern("Cd3P2", wavelength_angstrom=wavelength_angstrom("MoKa1"), two_theta_max_deg=40)
    common = [r for r in mo.reflections if r.hkl in cu]
    assert len(common) > 20
    for r in common:
        assert r.d_angstrom == pytest.approx(cu[r.hkl])


def test_bad_inputs():
    with pytest.raises(InputError):
        wavelength_angstrom("FooKa")
    with pytest.raises(InputError):
        reference_pattern("Cd3P2", wavelength_angstrom=50.0)
    with pytest.raises(InputError):
        reference_pattern("Unobtainium")


def test_cdo_intensity_ratio_matches_powder_file():
    # ICDD PDF 05-0640 (CdO, Swanson et al., NBS Circ. 539): I(200)/I(111) = 88/100
    ref = {r.hkl: r.relative_intensity for r in reference_pattern("CdO").reflections}
    assert ref[(1, 1, 1)] == pytest.approx(100)
    assert ref[(2, 0, 0)] / 100 == pytest.approx(0.88, abs=0.05)
