import numpy as np
import pytest

from qdlab.xrd.debye import (
    SphereLibrary,
    debye_intensity,
    debye_intensity_exact,
    debye_pattern,
    form_factor,
    lognormal_nodes,
    q_from_two_theta,
    two_theta_from_q,
)
from qdlab.xrd.structure import carve_sphere, cd3p2_structure, phase_structure


def test_form_factor_limits():
    assert form_factor("P", [0.0])[0] == pytest.approx(15.0)
    f = form_factor("Cd", np.linspace(0, 8, 50))
    assert np.all(np.diff(f) < 0) and f[-1] > 0


def test_two_atoms_analytic():
    q = np.linspace(0.3, 6, 40)
    r = 2.7
    i = debye_intensity(np.array([[0, 0, 0], [0, 0, r]], float), ["Cd", "Cd"], q, b_iso_angstrom2=0.0)
    f = form_factor("Cd", q)
    assert i == pytest.approx(2 * f * f * (1 + np.sin(q * r) / (q * r)), rel=1e-10)


def test_histogram_equals_exact_sum():
    pos, sym = carve_sphere(cd3p2_structure(), 1.4)
    q = np.linspace(0.4, 6, 200)
    a = debye_intensity(pos, sym, q, b_iso_angstrom2=0.8)
    b = debye_intensity_exact(pos, sym, q, b_iso_angstrom2=0.8)
    assert np.max(np.abs(a / b - 1)) < 1e-6


def test_forward_scattering_limit():
    pos, sym = carve_sphere(cd3p2_structure(), 2.0)
    z = sum(48 if s == "Cd" else 15 for s in sym)
    i0 = debye_intensity(pos, sym, np.array([1e-4]), b_iso_angstrom2=0.0)[0]
    assert i0 == pytest.approx(z * z, rel=1e-4)


def test_q_two_theta_roundtrip():
    tt = np.linspace(5, 150, 30)
    assert two_theta_from_q(q_from_two_theta(tt, 1.5406), 1.5406) == pytest.approx(tt)


def test_5nm_pattern_peaks_at_bulk_position():
    p = debye_pattern(5.0, np.arange(20, 80, 0.02))
    assert 41.0 < p.two_theta_deg[np.argmax(p.intensity)] < 41.5
    assert p.n_atoms_mean == pytest.approx(2856)


def test_lognormal_nodes_moments():
    d, w = lognormal_nodes(4.0, 0.1)
    mean = np.sum(w * d)
    assert mean == pytest.approx(4.0, rel=1e-6)
    assert np.sqrt(np.sum(w * (d - mean) ** 2)) / mean == pytest.approx(0.1, rel=1e-3)


def test_library_matches_direct_pattern():
    lib = SphereLibrary("Cd", 1.0, 5.0, max_diameter_nm=3.0)
    q = np.linspace(1.1, 4.9, 300)
    direct = debye_intensity(*carve_sphere(phase_structure("Cd"), 3.0), q)
    assert np.max(np.abs(lib.pattern(3.0, q_inv_angstrom=q) - direct)) / direct.max() < 2e-3
    assert lib.weights(2.0, 0.1).sum() == pytest.approx(1.0)


def test_explicit_size_distribution_is_the_weighted_sum():
    tt = np.linspace(25, 55, 301)
    a = debye_pattern(2.0, tt).intensity
    b = debye_pattern(3.0, tt).intensity
    mix = debye_pattern(0, tt, size_distribution=([2.0, 3.0], [3.0, 1.0]))
    assert mix.intensity == pytest.approx(0.75 * a + 0.25 * b, rel=1e-12)
    assert mix.diameter_nm == pytest.approx(2.25)


def test_library_disk_cache_round_trip_and_rebuild(tmp_path, monkeypatch):
    # a library is written to QDLAB_CACHE_DIR on first build and read back bit for bit by a new build,
    # without building the crystal structure; a truncated file is rebuilt; "off" writes nothing
    from qdlab.xrd import debye

    monkeypatch.setenv("QDLAB_CACHE_DIR", str(tmp_path))
    built = SphereLibrary("Cd", 1.0, 5.0, max_diameter_nm=2.0)
    files = list((tmp_path / "xrd").glob("sphere-library-Cd-*.npz"))
    assert len(files) == 1

    def no_structure(phase):
        raise AssertionError("the cached library must not build the structure")

    import qdlab.xrd.structure as structure

    monkeypatch.setattr(structure, "phase_structure", no_structure)
    cached = SphereLibrary("Cd", 1.0, 5.0, max_diameter_nm=2.0)
    assert np.array_equal(cached.intensity, built.intensity) and np.array_equal(cached.n_atoms, built.n_atoms)
    assert np.array_equal(cached.q, built.q) and np.array_equal(cached.diameters_nm, built.diameters_nm)
    # another q range is another library (the no-structure patch proves it is not served from the cache)
    with pytest.raises(AssertionError, match="must not build"):
        SphereLibrary("Cd", 1.0, 4.0, max_diameter_nm=2.0)
    monkeypatch.undo()
    monkeypatch.setenv("QDLAB_CACHE_DIR", str(tmp_path))
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated: rebuilt and rewritten, no error
    again = SphereLibrary("Cd", 1.0, 5.0, max_diameter_nm=2.0)
    assert np.array_equal(again.intensity, built.intensity)
    assert debye._load_library(files[0], built.q.size, built.diameters_nm.size) is not None
    monkeypatch.setenv("QDLAB_CACHE_DIR", "off")
    assert debye.library_cache_dir() is None
    before = sorted((tmp_path / "xrd").iterdir())
    SphereLibrary("Cd", 1.0, 4.5, max_diameter_nm=2.0)
    assert sorted((tmp_path / "xrd").iterdir()) == before


def test_mean_atomic_mass_is_the_structures():
    from qdlab.xrd.match import mean_atomic_mass_da
    from qdlab.xrd.structure import PHASES

    for phase in PHASES:
        comp = phase_structure(phase).composition
        assert mean_atomic_mass_da(phase) == pytest.approx(float(comp.weight) / comp.num_atoms, rel=1e-12), phase
