import numpy as np
import pytest

from qdlab.data.errors import InputError
from qdlab.data.types import Diffractogram
from qdlab.xrd.background import subtract_background


@pytest.mark.parametrize("method", ["snip", "arpls"])
def test_linear_background_under_a_broad_peak(method):
    tt = np.linspace(10, 80, 1401)
    base = 200 + 2.0 * tt
    peak = 1000 * np.exp(-0.5 * ((tt - 41) / 1.2) ** 2)
    r = subtract_background(Diffractogram(tt, base + peak), method=method)
    assert np.max(np.abs(r.baseline - base)[(tt > 15) & (tt < 75)]) < 0.06 * 1000
    assert r.corrected[np.argmin(np.abs(tt - 41))] == pytest.approx(1000, rel=0.06)


def test_unknown_method():
    d = Diffractogram(np.linspace(10, 80, 100), np.ones(100))
    with pytest.raises(InputError):
        subtract_background(d, method="magic")
