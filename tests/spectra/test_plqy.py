"""PLQY: de Mello and two-step sphere methods on synthetic spheres with known QY, the relative method."""

from __future__ import annotations

import numpy as np
import pytest

from qdlab.data.errors import InputError
from qdlab.data.types import Spectrum
from qdlab.spectra import plqy_demello, plqy_relative, plqy_two_step
from qdlab.spectra.plqy import IR26_WARNING, reference_dyes, refractive_index
from qdlab.spectra.synth import detector_response, synth_pl, synth_sphere

WIN = {"excitation_nm": (780.0, 840.0), "emission_nm": (900.0, 1640.0)}


@pytest.mark.parametrize(("qy", "a", "mu"), [(0.22, 0.4, 0.0), (0.073, 0.25, 0.15), (0.31, 0.6, 0.3), (0.0, 0.5, 0.1)])
def test_demello_recovers_qy_and_absorptance(qy: float, a: float, mu: float) -> None:
    s = synth_sphere(qy, a, indirect_absorptance=mu)
    r = plqy_demello(s["a"], s["b"], s["c"], response=detector_response, **WIN)
    assert r.qy == pytest.approx(qy, abs=2e-4)
    assert r.absorptance == pytest.approx(a, abs=1e-6)
    assert r.qy_percent == pytest.approx(100 * r.qy)


def test_spectral_correction_matters() -> None:
    s = synth_sphere(0.2, 0.4, indirect_absorptance=0.1)
    uncorrected = plqy_demello(s["a"], s["b"], s["c"], **WIN)
    # the InGaAs model response is ~0.05 at 808 nm and ~1 at 1150 nm: ignoring it inflates the QY
    assert uncorrected.qy > 2 * 0.2


def test_demello_ignores_indirect_excitation_in_two_step_limit() -> None:
    s = synth_sphere(0.15, 0.3, indirect_absorptance=0.0, response=None)
    r3 = plqy_demello(s["a"], s["b"], s["c"], **WIN)
    r2 = plqy_two_step(s["blank"], s["sample"], **WIN)
    assert r3.qy == pytest.approx(0.15, abs=1e-4) and r2.qy == pytest.approx(0.15, abs=1e-4)


def test_energy_units_are_converted_to_photons() -> None:
    s = synth_sphere(0.25, 0.4, response=None)
    hc = 1239.841984
    as_energy = {k: Spectrum(v.x, v.y * hc / v.x, "nm", "pl", {}, k) for k, v in s.items()}  # W/nm ∝ photons * hc/lambda
    r = plqy_two_step(as_energy["blank"], as_energy["sample"], y_units="energy", **WIN)
    assert r.qy == pytest.approx(0.25, abs=2e-4)
    wrong = plqy_two_step(as_energy["blank"], as_energy["sample"], y_units="photons", **WIN)
    assert abs(wrong.qy - 0.25) > 0.05


def test_small_absorptance_warns_and_bad_windows_refused() -> None:
    s = synth_sphere(0.2, 0.05, response=None)
    r = plqy_two_step(s["blank"], s["sample"], **WIN)
    assert any("absorptance" in w for w in r.warnings)
    with pytest.raises(InputError):
        plqy_two_step(s["blank"], s["sample"], excitation_nm=(780, 840), emission_nm=(830, 1600))
    with pytest.raises(InputError):
        plqy_two_step(s["blank"], s["sample"], excitation_nm=(780, 840), emission_nm=(900, 2000))
    with pytest.raises(InputError):
        plqy_two_step(s["sample"], s["blank"], **WIN)  # swapped: negative absorbed photons


def test_relative_method_formula_and_refractive_index() -> None:
    ref, _ = synth_pl([(1100.0, 150.0, 1.0)], range_nm=(800, 1600))
    qd, _ = synth_pl([(1250.0, 110.0, 0.5)], range_nm=(800, 1600))
    r = plqy_relative(qd, ref, sample_absorbance=0.05, reference_absorbance=0.08, reference_qy=0.132,
                      reference_source="IR-125, Rurack & Spieles 2011", sample_solvent="toluene", reference_solvent="ethanol")
    fx, fr = 1 - 10**-0.05, 1 - 10**-0.08
    want = 0.132 * 0.5 * (fr / fx) * (1.496**2 / 1.361**2)
    assert r.qy == pytest.approx(want, rel=1e-5)  # trapezoid integration of the bands
    assert r.reference["source"].startswith("IR-125")
    assert not r.warnings


def test_relative_ir26_warning_and_provenance_required() -> None:
    ref, _ = synth_pl([(1100.0, 150.0, 1.0)])
    qd, _ = synth_pl([(1250.0, 110.0, 1.0)])
    legacy = plqy_relative(qd, ref, sample_absorbance=0.05, reference_absorbance=0.05, reference_qy="IR-26-legacy")
    modern = plqy_relative(qd, ref, sample_absorbance=0.05, reference_absorbance=0.05, reference_qy="IR-26-semonin")
    assert IR26_WARNING in legacy.warnings
    assert legacy.qy / modern.qy == pytest.approx(0.005 / 0.00048)
    assert legacy.reference["solvent"] == "dichloroethane"
    with pytest.raises(InputError, match="provenance"):
        plqy_relative(qd, ref, sample_absorbance=0.05, reference_absorbance=0.05, reference_qy=0.005, reference_solvent="dce")
    with pytest.raises(InputError):
        plqy_relative(qd, ref, sample_absorbance=0.05, reference_absorbance=0.05, reference_qy="IR-999")
    r = plqy_relative(qd, ref, sample_absorbance=0.2, reference_absorbance=0.05, reference_qy=0.005,
                      reference_source="Kodak datasheet (IR-26)", reference_solvent="dce")
    assert any("0.1 OD" in w for w in r.warnings) and IR26_WARNING in r.warnings


def test_resources_have_units_and_sources() -> None:
    for name, e in reference_dyes().items():
        assert 0 < e["value"] <= 1 and e["source"] and e["solvent"], name
    assert refractive_index("toluene")[0] == pytest.approx(1.496)
    assert refractive_index(1.4)[0] == 1.4
    with pytest.raises(InputError):
        refractive_index("unobtainium")
    assert np.isfinite(refractive_index("TCE")[0])
