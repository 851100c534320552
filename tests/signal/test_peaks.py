"""qdlab.signal.peaks against scipy, closed forms and properties of overlapping peaks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal as sps

from qdlab.data.errors import InputError
from qdlab.signal import centroids, find_peaks, half_max_width, local_maxima, parabolic_apex, valleys, widths


def gauss(x, c, s, h=1.0):
    return h * np.exp(-0.5 * ((x - c) / s) ** 2)


def test_gaussian_and_lorentzian_fwhm_closed_form():
    x = np.linspace(-50, 50, 20001)
    g = gauss(x, 3.0, 2.0)
    lor = 1.0 / (1.0 + ((x + 4.0) / 1.5) ** 2)
    for y, fwhm in ((g, 2 * math.sqrt(2 * math.log(2)) * 2.0), (lor, 3.0)):
        pk = find_peaks(x, y, noise=1e-6)
        assert len(pk) == 1
        assert widths(x, y, pk).width[0] == pytest.approx(fwhm, rel=1e-5)
        assert half_max_width(x, y) == pytest.approx(fwhm, rel=1e-5)


def test_prominence_reference_equals_scipy_peak_widths():
    rng = np.random.default_rng(3)
    x = np.arange(3000, dtype=float)
    y = gauss(x, 700, 40, 5) + gauss(x, 1500, 25, 2) + gauss(x, 2300, 60, 3) + 0.5 + rng.normal(0, 0.01, x.size)
    pk = find_peaks(x, y, min_snr=20)
    assert len(pk) == 3
    for rel in (0.25, 0.5, 0.9):
        ours = widths(x, y, pk, rel_height=rel, reference="prominence")
        ref_w, ref_h, ref_l, ref_r = sps.peak_widths(y, pk.index, rel_height=rel)
        np.testing.assert_allclose(ours.width, ref_w, rtol=1e-9)
        np.testing.assert_allclose(ours.level, ref_h, rtol=1e-12)
        np.testing.assert_allclose(ours.left_ips, ref_l, rtol=1e-12)
        np.testing.assert_allclose(ours.right_ips, ref_r, rtol=1e-12)


def test_zero_reference_on_offset_is_truncated_or_wider():
    x = np.linspace(0, 10, 1001)
    y = gauss(x, 5, 0.5) + 1.5  # never falls to half of its apex (1.25)
    pk = find_peaks(x, y, noise=1e-3)
    w = widths(x, y, pk)
    assert w.truncated[0]
    assert math.isnan(half_max_width(x, y))


def test_noise_threshold_rejects_noise_and_keeps_real_peak():
    rng = np.random.default_rng(7)
    x = np.linspace(0, 1, 5000)
    noise = rng.normal(0, 1.0, x.size)
    # prominence alone: an apex against the lowest point around it reaches ~2 sqrt(2 ln N) sigma by chance
    assert len(find_peaks(x, noise, noise=1.0, min_snr=6)) > 0
    assert len(find_peaks(x, noise, noise=1.0, min_snr=6, min_height_snr=6)) == 0
    y = noise + gauss(x, 0.5, 0.02, 30)
    pk = find_peaks(x, y, min_snr=6, min_height_snr=6)
    assert len(pk) == 1 and abs(pk.x[0] - 0.5) < 0.01


def test_window_rule_like_maldiquant():
    x = np.arange(200, dtype=float)
    y = gauss(x, 100, 3) + 0.8 * gauss(x, 108, 3) + gauss(x, 3, 2)
    pk = find_peaks(x, y, noise=1e-3, window=20)
    # 108 is not the maximum of its 41-point window; 3 is too close to the edge
    assert pk.index.tolist() == [100]


@settings(max_examples=60, deadline=None)
@given(
    sep=st.floats(2.5, 8.0),
    ratio=st.floats(0.05, 0.9),
    s1=st.floats(0.8, 2.0),
    s2=st.floats(0.8, 2.0),
    weak_left=st.booleans(),
)
def test_overlapping_peaks_each_report_their_own_position(sep, ratio, s1, s2, weak_left):
    """Two overlapping bands of unequal height: each centroid lies inside its own half-max bounds and own bases."""
    x = np.linspace(0, 60, 6001)
    c1, c2 = 30.0, 30.0 + sep * max(s1, s2)
    h1, h2 = (ratio, 1.0) if weak_left else (1.0, ratio)
    y = gauss(x, c1, s1, h1) + gauss(x, c2, s2, h2)
    pk = find_peaks(x, y, noise=1e-4, min_snr=5)
    assert len(pk) <= 2
    w = widths(x, y, pk)
    cen = centroids(x, y, pk)
    assert np.all(np.diff(pk.index) > 0)
    assert len(set(np.round(cen, 9))) == len(pk)  # no two peaks report the same position
    for k in range(len(pk)):
        assert w.left_x[k] - 1e-9 <= cen[k] <= w.right_x[k] + 1e-9
        assert x[pk.left_base[k]] - 1e-9 <= cen[k] <= x[pk.right_base[k]] + 1e-9
        # the apex is within one sample of a true component's maximum region
        assert abs(pk.x[k] - c1) < 2 * s1 or abs(pk.x[k] - c2) < 2 * s2
    if len(pk) == 2:
        assert pk.right_base[0] <= pk.left_base[1]


def test_centroid_of_weak_shoulder_not_pulled_to_strong_neighbour():
    # the defect of the old MALDI picker: a weak peak's mass came from its strong neighbour
    x = np.linspace(0, 100, 10001)
    y = gauss(x, 40, 2.5, 10.0) + gauss(x, 52, 2.5, 1.0)
    pk = find_peaks(x, y, noise=1e-3)
    cen = centroids(x, y, pk, rel_height=0.8)
    assert cen[1] == pytest.approx(52.0, abs=0.3)
    assert cen[0] == pytest.approx(40.0, abs=0.05)


def test_bad_input():
    with pytest.raises(InputError, match="non-finite"):
        find_peaks(None, [0.0, np.nan, 1.0, 0.0])
    with pytest.raises(InputError, match="axis"):
        find_peaks([1.0, 2.0], [0.0, 1.0, 0.0])
    with pytest.raises(InputError, match="rel_height"):
        widths(None, [0.0, 1.0, 0.0], find_peaks(None, [0.0, 1.0, 0.0], noise=0.1), rel_height=1.5)


# --- local maxima (MALDIquant's rule), peaks at given apexes, parabolic apex ---------------------------

# Integer vectors full of ties and MALDIquant 1.22's own answer, MALDIquant:::.localMaxima(y, hws) - 1
# (R 4.2, Debian r-cran-maldiquant), computed once; the vectors are numpy default_rng(11) integers 0..4.
_MQ_LOCAL_MAXIMA = [
    (1, "0,0,3,2,2,3,3,0,2,0,2,4,2,0,2,0,3,4,4,3,4,1,0,2,2,3,4,1,4,0", [2, 5, 8, 11, 14, 17, 20, 23, 26, 28]),
    (2, "1,3,1,3,2,2,4,4,4,2,4,4,0,1,1,2,4,2,4,1,4,2,3,1,2,4,4,4,4,0", [1, 6, 16, 25]),
    (3, "3,2,3,1,0,0,4,4,1,2,1,0,4,3,0,1,2,4,4,1,3,0,0,1,2,1,3,2,1,4", [0, 6, 12, 17, 29]),
    (5, "3,3,3,1,4,0,1,0,0,4,0,2,4,3,4,0,2,0,0,4,0,2,0,1,4,1,1,0,3,0", [4]),
]


@pytest.mark.parametrize(("hw", "values", "expected"), _MQ_LOCAL_MAXIMA)
def test_local_maxima_equal_maldiquant_output(hw, values, expected):
    y = np.array(values.split(","), dtype=float)
    assert np.nonzero(local_maxima(y, hw, edges=True))[0].tolist() == expected
    inner = [i for i in expected if hw <= i < y.size - hw]
    assert np.nonzero(local_maxima(y, hw))[0].tolist() == inner


def _maldiquant_c_loop(y, hw):
    """Line-by-line port of MALDIquant's published C_localMaxima (sliding window maximum, zero padding)."""
    p = [0.0] * hw + list(y) + [0.0] * hw
    n, w = len(p), 2 * hw
    out = [False] * n
    m = max(range(w + 1), key=lambda j: (p[j], -j))  # first maximum of the first window
    out[m] = m == hw
    mid, left = hw + 1, 1
    for i in range(w + 1, n):
        if m < left:
            m = max(range(left, i + 1), key=lambda j: (p[j], -j))
        elif p[i] > p[m]:
            m = i
        if m == mid:
            out[m] = True
        mid += 1
        left += 1
    return np.array(out[hw: n - hw])


@settings(max_examples=150, deadline=None)
@given(y=st.lists(st.integers(0, 6), min_size=1, max_size=80), hw=st.integers(1, 6))
def test_local_maxima_equal_published_sliding_window(y, hw):
    yy = np.asarray(y, dtype=float)
    np.testing.assert_array_equal(local_maxima(yy, hw, edges=True), _maldiquant_c_loop(yy, hw))


def test_valleys_are_the_own_bases_of_find_peaks():
    x = np.linspace(0, 100, 5001)
    y = gauss(x, 30, 2, 3.0) + gauss(x, 38, 3, 1.0) + gauss(x, 70, 4, 2.0) + 0.05 * gauss(x, 50, 10)
    pk = find_peaks(x, y, noise=1e-3)
    v = valleys(y, pk.index)
    assert len(pk) == 3 and v.size == 2
    for k, (a, b) in enumerate(zip(pk.index[:-1], pk.index[1:], strict=True)):
        assert y[v[k]] == y[a: b + 1].min()
        assert pk.right_base[k] <= v[k] <= pk.left_base[k + 1]
    with pytest.raises(InputError, match="increasing"):
        valleys(y, [10, 5])


def test_signal_weighted_centroid_is_the_plain_intensity_centroid_above_the_level():
    x = np.linspace(0, 50, 5001)
    y = gauss(x, 20, 2, 1.0) + gauss(x, 23, 3, 0.4)  # one skewed peak
    pk = find_peaks(x, y, noise=1e-3)
    assert len(pk) == 1
    above = y > 0.2 * pk.height[0]
    plain = float(np.sum(x[above] * y[above]) / np.sum(y[above]))
    assert centroids(x, y, pk, rel_height=0.8, weights="signal")[0] == pytest.approx(plain, abs=1e-12)
    excess = float(np.sum(x[above] * (y[above] - 0.2 * pk.height[0])) / np.sum(y[above] - 0.2 * pk.height[0]))
    assert centroids(x, y, pk, rel_height=0.8)[0] == pytest.approx(excess, abs=1e-12)
    with pytest.raises(InputError, match="weights"):
        centroids(x, y, pk, weights="area")


def test_parabolic_apex_is_exact_for_a_parabola():
    x = np.arange(10.0) * 0.5
    y = 7.0 - 3.0 * (x - 2.3) ** 2
    pos, top = parabolic_apex(x, y, int(np.argmax(y)))
    assert pos == pytest.approx(2.3, abs=1e-12) and top == pytest.approx(7.0, abs=1e-12)
    assert parabolic_apex(x, y, 0) == (0.0, float(y[0]))


def test_half_max_width_and_apex_are_the_scipy_and_numpy_formulations_bit_for_bit():
    """half_max_width's direct search and parabolic_apex's float arithmetic give, to the last bit, what the
    Peaks/widths (scipy.signal.peak_widths, np.interp) route and the np.clip formula give: on random, flat,
    negative and non-finite signals, at every kind of index."""
    import warnings

    def hmw_reference(x, y, k):
        pk_ = widths(x, y, _one_peak(y, k))
        return math.nan if pk_.truncated[0] else float(pk_.width[0])

    def apex_reference(x, y, i):
        a, b, c = y[i - 1], y[i], y[i + 1]
        den = a - 2.0 * b + c
        d = float(np.clip(0.5 * (a - c) / den, -1.0, 1.0)) if den != 0 else 0.0
        return float(x[i] + d * 0.5 * (x[i + 1] - x[i - 1])), float(b - 0.25 * (a - c) * d)

    def same(a, b):
        return a == b or (math.isnan(a) and math.isnan(b))

    rng = np.random.default_rng(7)
    for t in range(3000):
        n = int(rng.integers(3, 50))
        y = [rng.normal(size=n), np.round(rng.normal(size=n)), -np.abs(rng.normal(size=n)), np.ones(n),
             gauss(np.arange(n), rng.uniform(-5, n + 5), rng.uniform(0.3, 10))][t % 5]
        if t % 7 == 0:
            y[rng.integers(0, n)] = [np.nan, np.inf, -np.inf][t % 3]
        x = np.sort(rng.normal(size=n)) if t % 2 else np.linspace(0.0, 1.0, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in (0, n - 1, int(rng.integers(0, n))):
                assert same(half_max_width(x, y, k), hmw_reference(x, y, k)), (t, k)
                if 0 < k < n - 1:
                    got, want = parabolic_apex(x, y, k), apex_reference(x, y, k)
                    assert same(got[0], want[0]) and same(got[1], want[1]), (t, k)


def _one_peak(y, k):
    from qdlab.signal.peaks import Peaks

    return Peaks(np.array([k]), np.array([0.0]), y[[k]], np.array([y[k]]), np.array([0]), np.array([y.size - 1]),
                 math.nan)
