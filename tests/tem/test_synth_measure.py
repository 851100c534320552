"""Synthetic micrographs, edge model, segmentation and measurement against exact ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qdlab.data.errors import InputError
from qdlab.tem.evaluate import score
from qdlab.tem.measure import measure_particles, shape_descriptors
from qdlab.tem.profile import fit_radius, model_table, radial_profile
from qdlab.tem.segment import estimate_background, segment_particles
from qdlab.tem.stats import size_distribution
from qdlab.tem.synth import read_ground_truth, synth_micrograph, write_ground_truth


@pytest.fixture(scope="module")
def medium():
    """768 x 768 at 0.1 nm/px, ~70 particles of 4 nm, a fifth touching (realistic noise and carbon texture)."""
    return synth_micrograph(count=70, size_px=768, mean_diameter_nm=4.0, std_diameter_nm=0.4, seed=11)


def test_synth_ground_truth_is_exact(medium):
    t = medium.truth
    assert t.count == 70
    assert medium.micrograph.nm_per_px == (0.1, 0.1)
    assert medium.micrograph.image.dtype == np.uint16
    # a fifth of the particles touch a partner
    assert t.touching.sum() == 14
    # border flag is the geometric definition
    r = t.diameter_nm / (2 * 0.1)
    cut = (t.x_px - r < -0.5) | (t.y_px - r < -0.5) | (t.x_px + r > 767.5) | (t.y_px + r > 767.5)
    np.testing.assert_array_equal(cut, t.cut_by_border)
    # free particles keep their isolation gap; touching ones are within the contact window
    d = np.hypot(t.x_px[:, None] - t.x_px[None], t.y_px[:, None] - t.y_px[None]) - r[:, None] - r[None]
    np.fill_diagonal(d, np.inf)
    free = ~t.touching
    assert (d[free].min(axis=1) >= 1.0 / 0.1 - 1e-9).all()
    assert (d[t.touching].min(axis=1) <= 0.1 / 0.1 + 1e-9).all()


def test_synth_contrast_follows_beer_lambert():
    """A 4 nm sphere with lambda = 30 nm absorbs 1 - exp(-4/30) = 12.5 % at its centre (no blur, high dose)."""
    res = synth_micrograph(count=1, size_px=96, mean_diameter_nm=4.0, std_diameter_nm=0.0, psf_sigma_nm=0.0,
                           carbon_texture_rel=0.0, background_gradient_rel=0.0, dose_e_per_px=50000, seed=1)
    img = res.micrograph.image.astype(float)
    t = res.truth
    cy, cx = round(t.y_px[0]), round(t.x_px[0])
    yy, xx = np.mgrid[0:96, 0:96]
    far = np.hypot(yy - t.y_px[0], xx - t.x_px[0]) > 30
    centre = img[cy - 1:cy + 2, cx - 1:cx + 2].mean()
    rho = math.hypot(cy - t.y_px[0], cx - t.x_px[0]) * 0.1
    expected = math.exp(-2 * math.sqrt(max(4.0 - rho**2, 0)) / 30.0)  # r = 2 nm
    assert centre / img[far].mean() == pytest.approx(expected, abs=0.01)


def test_synth_rejects_bad_input():
    with pytest.raises(InputError):
        synth_micrograph(count=10, size_px=64, touching_fraction=1.5)
    with pytest.raises(InputError):
        synth_micrograph(count=10, size_px=64, mean_diameter_nm=0.2)
    with pytest.raises(InputError, match="could not place"):
        synth_micrograph(count=400, size_px=64, mean_diameter_nm=2.0)


def test_ground_truth_round_trip(tmp_path, medium):
    csv, js = write_ground_truth(medium.truth, tmp_path / "img.tif")
    assert csv.name == "img.truth.csv" and js.exists()
    back = read_ground_truth(csv)
    np.testing.assert_allclose(back.diameter_nm, medium.truth.diameter_nm, atol=1e-5)
    np.testing.assert_array_equal(back.touching, medium.truth.touching)
    assert back.nm_per_px == 0.1


@pytest.mark.parametrize("model", ["sphere", "disk"])
@pytest.mark.parametrize("radius_px", [8.0, 14.5, 22.25])
def test_edge_model_recovers_radius_of_exact_blurred_profiles(model, radius_px):
    """Render the model by brute-force 2-D supersampling and Gaussian blur; the fit must return R within 1 %."""
    from scipy import ndimage as ndi

    n, s = 96, 5
    c = (47.3, 48.6)
    yy, xx = (np.mgrid[0:n * s, 0:n * s] + 0.5) / s - 0.5
    rho2 = (yy - c[0]) ** 2 + (xx - c[1]) ** 2
    f = np.sqrt(np.clip(1 - rho2 / radius_px**2, 0, None)) if model == "sphere" else (rho2 < radius_px**2) * 1.0
    img = ndi.gaussian_filter(f.reshape(n, s, n, s).mean(axis=(1, 3)), 1.2) * 0.1 + 0.01
    gy, gx = np.mgrid[0:n, 0:n]
    ring = radial_profile(img, np.hypot(gy - c[0], gx - c[1]), 0.5, radius_px + 10)
    r, _a, b, _ = fit_radius(*ring, model_table(1.2, 40.0, model), 2.0, radius_px + 6)
    assert r == pytest.approx(radius_px, rel=0.01)
    assert b == pytest.approx(0.01, abs=2e-3)


def test_threshold_undersizes_spheres_but_the_fit_does_not():
    """Why the edge fit exists: a half-maximum contour of a sphere lies at R*sqrt(3)/2 before blur."""
    radii, rho, tab = model_table(0.0, 30.0, "sphere")
    prof = tab[np.searchsorted(radii, 20.0)]
    half = rho[np.flatnonzero(prof >= 0.5 * prof[0])[-1]]
    assert half == pytest.approx(20.0 * math.sqrt(3) / 2, abs=0.3)


def test_background_takes_a_plane_exactly():
    yy, xx = np.mgrid[0:128, 0:160]
    img = 200.0 + 0.3 * xx - 0.2 * yy
    bg = estimate_background(img, 16, 64.0)
    np.testing.assert_allclose(bg, img, rtol=1e-4)


def test_shape_descriptors_of_a_digital_disk_and_a_square():
    yy, xx = np.mgrid[-40:41, -40:41]
    disk = shape_descriptors(xx**2 + yy**2 <= 30**2, (0.1, 0.1))
    assert disk["area"] == pytest.approx(math.pi * 3.0**2, rel=0.01)
    assert disk["circularity"] == pytest.approx(1.0, abs=0.03)
    assert disk["solidity"] == pytest.approx(1.0, abs=0.05)
    assert disk["feret_max"] == pytest.approx(6.1, abs=0.1)  # pixel corners add half a pixel each side
    sq = shape_descriptors((abs(xx) <= 10) & (abs(yy) <= 10))
    assert sq["feret_min"] == pytest.approx(21.0)
    assert sq["feret_max"] == pytest.approx(21.0 * math.sqrt(2))
    # Crofton perimeters are rotation-averaged: an axis-aligned square reads 0.90 instead of pi/4, still
    # clearly below a disk
    assert sq["circularity"] < disk["circularity"] - 0.05


def test_pipeline_on_medium_image(medium):
    table = measure_particles(medium.micrograph, expected_diameter_nm=4.0)
    acc = table.accepted
    s = score(table["x_px"][acc], table["y_px"][acc], table["diameter_nm"][acc], medium.truth)
    assert s.recall >= 0.9
    assert s.precision >= 0.95
    assert abs(s.mean_error_rel) < 0.03
    assert abs(s.std_error_rel) < 0.25
    # every accepted particle lies fully inside the field
    r_px = table["diameter_nm"][acc] / 0.2
    assert (table["x_px"][acc] - r_px >= -0.5).all() and (table["x_px"][acc] + r_px <= 767.5).all()
    rows = table.rows(accepted_only=True)
    assert len(rows) == acc.sum() and rows[0]["reject_reason"] == ""


def test_bright_particles_haadf_like():
    res = synth_micrograph(count=30, size_px=512, mean_diameter_nm=4.0, std_diameter_nm=0.3, dark_particles=False,
                           touching_fraction=0.0, seed=5)
    table = measure_particles(res.micrograph, expected_diameter_nm=4.0, dark_particles=False)
    acc = table.accepted
    s = score(table["x_px"][acc], table["y_px"][acc], table["diameter_nm"][acc], res.truth)
    assert s.recall >= 0.85 and s.precision >= 0.95
    assert abs(s.mean_error_rel) < 0.05


def test_non_square_pixels_measure_in_nm():
    """Anisotropic calibration: bin the columns of a square-pixel image by 2 and declare (0.1, 0.2) nm/px."""
    from qdlab.data.types import Micrograph

    res = synth_micrograph(count=40, size_px=768, mean_diameter_nm=4.0, std_diameter_nm=0.3, touching_fraction=0.0,
                           carbon_texture_rel=0.0, seed=8)
    img = res.micrograph.image.astype(np.float32)
    binned = 0.5 * (img[:, 0::2] + img[:, 1::2])
    mic = Micrograph(binned, (0.1, 0.2))
    table = measure_particles(mic, expected_diameter_nm=4.0)
    assert table.accepted.sum() >= 20
    assert table.diameters_nm.mean() == pytest.approx(res.truth.summary()["mean_diameter_nm"], rel=0.04)


def test_segment_rejects_unresolvable_sizes(medium):
    with pytest.raises(InputError, match="px across"):
        segment_particles(medium.micrograph, expected_diameter_nm=0.2)


def test_size_distribution_known_values():
    d = np.array([3.0, 3.2, 3.4, 3.6, 3.8])
    s = size_distribution(d)
    assert s.count == 5
    assert s.mean_diameter_nm == pytest.approx(3.4)
    assert s.std_diameter_nm == pytest.approx(np.sqrt(0.1))  # ddof = 1
    assert s.sem_diameter_nm == pytest.approx(np.sqrt(0.1) / np.sqrt(5))
    _lo, hi = s.ci95_diameter_nm
    assert hi - s.mean_diameter_nm == pytest.approx(2.776445 * s.sem_diameter_nm, rel=1e-5)
    assert s.lognormal_mu == pytest.approx(np.log(d).mean())
    assert s.histogram_counts.sum() == 5
    assert size_distribution([]).count == 0
    with pytest.raises(InputError):
        size_distribution([3.0, float("nan")])


def test_lognormal_fit_matches_scipy():
    from scipy import stats

    rng = np.random.default_rng(0)
    d = rng.lognormal(np.log(4.0), 0.12, 400)
    s = size_distribution(d)
    shape, _loc, scale = stats.lognorm.fit(d, floc=0)
    assert s.lognormal_sigma == pytest.approx(shape, rel=1e-6)
    assert s.lognormal_median_nm == pytest.approx(scale, rel=1e-6)


def test_figures(medium, tmp_path):
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse

    from qdlab.tem.plot import histogram_figure, overlay_figure, save_figure

    table = measure_particles(medium.micrograph, expected_diameter_nm=4.0)
    fig = overlay_figure(medium.micrograph, table)
    assert isinstance(fig, Figure)
    circles = [p for p in fig.axes[0].patches if isinstance(p, Ellipse)]
    assert len(circles) == int(np.isfinite(table["diameter_nm"]).sum())
    dist = size_distribution(table.diameters_nm)
    hfig = histogram_figure(dist)
    assert isinstance(hfig, Figure) and "N = " in hfig.axes[0].get_title()
    save_figure(hfig, str(tmp_path / "h.png"))
    assert (tmp_path / "h.png").stat().st_size > 5_000


def test_edge_correction_weights():
    from qdlab.tem.stats import edge_weights

    w = edge_weights([2.0, 4.0], (100.0, 50.0))
    assert w.tolist() == pytest.approx([5000 / (98 * 48), 5000 / (96 * 46)])
    s = size_distribution([2.0, 4.0], field_nm=(100.0, 50.0))
    assert s.edge_corrected_mean_diameter_nm == pytest.approx((2 * w[0] + 4 * w[1]) / w.sum())
    assert s.edge_corrected_mean_diameter_nm > s.mean_diameter_nm
    same = size_distribution([3.0, 3.0, 3.0], field_nm=(20.0, 20.0))
    assert same.edge_corrected_mean_diameter_nm == pytest.approx(3.0)
    with pytest.raises(InputError):
        edge_weights([30.0], (20.0, 20.0))


def test_wrong_expected_diameter_is_adapted(medium):
    table = measure_particles(medium.micrograph, expected_diameter_nm=7.0)
    assert table.params["expected_diameter_nm_given"] == 7.0
    assert table.params["expected_diameter_nm"] == pytest.approx(4.0, rel=0.1)
    acc = table.accepted
    s = score(table["x_px"][acc], table["y_px"][acc], table["diameter_nm"][acc], medium.truth)
    assert abs(s.mean_error_rel) < 0.03 and s.recall >= 0.9
    fixed = measure_particles(medium.micrograph, expected_diameter_nm=7.0, adapt_expected=False)
    assert "expected_diameter_nm_given" not in fixed.params
