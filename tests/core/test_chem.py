import string

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qdlab.chem import isotope_envelope, parse_formula
from qdlab.data import InputError

# Reference paper, Table 1: (formula, theoretical average mass in Da). The row printed "Cd32P12(OA)8"
# (6220.5 Da) is a typo for Cd22P12(OA)8 (5096.35 Da), see docs/science.md.
TABLE1 = [
    ("Cd29P17(C17H33CO2)7", 5756.6),
    ("Cd27P15(C17H33CO2)8", 5751.3),
    ("Cd32P20(C17H33CO2)5", 5623.9),
    ("Cd23P12(C17H33CO2)9", 5490.2),
    ("Cd21P10(C17H33CO2)10", 5484.9),
    ("Cd26P15(C17H33CO2)7", 5357.5),
    ("Cd28P17(C17H33CO2)6", 5362.8),
    ("Cd29P18(C17H33CO2)5", 5224.7),
    ("Cd22P12(C17H33CO2)8", 5096.4),
    ("Cd20P10(C17H33CO2)9", 5091.1),
]


@pytest.mark.parametrize(("formula", "paper_da"), TABLE1)
def test_table1_masses_with_2007_weights(formula, paper_da):
    assert parse_formula(formula).average_mass_da("iupac2007") == pytest.approx(paper_da, abs=0.15)


def test_table1_typo_row_is_not_reproducible_as_printed():
    assert parse_formula("Cd32P12(OA)8").average_mass_da("iupac2007") == pytest.approx(6220.46, abs=0.05)


def test_paper_repeat_units_and_shorthand():
    # "The average molecular mass of Cd3P2 is 399.2 Da and that of Cd(C17H33CO2) 393.9 Da"
    assert parse_formula("Cd3P2").average_mass_da() == pytest.approx(399.2, abs=0.05)
    assert parse_formula("Cd(C17H33CO2)").average_mass_da() == pytest.approx(393.9, abs=0.05)
    assert parse_formula("Cd32P20(OA)5").counts == parse_formula("Cd32P20(C18H33O2)5").counts
    assert parse_formula("Cd32P20(OA)5+").charge == 1
    assert parse_formula("[Cd(OA)2]2-").charge == -2
    assert parse_formula("Cd32P20(OA)5^2+").charge == 2
    assert parse_formula("OAs").counts == {"O": 1, "As": 1}  # shorthand not taken before a lower-case letter
    assert parse_formula("Cd(OAc)2").counts == {"Cd": 1, "C": 4, "H": 6, "O": 4}


def test_current_weights_differ_from_2007():
    f = parse_formula("Cd32P20(OA)5")
    assert f.average_mass_da() == pytest.approx(5624.02, abs=0.01)
    assert f.average_mass_da("iupac2007") == pytest.approx(5623.89, abs=0.01)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ("Cd32P20(((", "missing closing"),
        ("Xx3", "unknown element"),
        ("", "empty"),
        ("Cd)", "unmatched"),
        ("Cd2+P", "charge"),
        ("cd3p2", "unexpected character"),
        ("()", "empty group"),
    ],
)
def test_bad_formulas_raise_with_position(bad, where):
    with pytest.raises(InputError, match=where):
        parse_formula(bad)


ELEMENTS = ["C", "H", "O", "N", "P", "S", "Cd", "Se", "In", "As", "Zn", "Na"]


@st.composite
def formulas(draw):
    parts = draw(
        st.lists(
            st.tuples(st.sampled_from([*ELEMENTS, "(OA)", "(C2H3O2)"]), st.integers(1, 40)), min_size=1, max_size=6
        )
    )
    return "".join(f"{p}{n}" for p, n in parts)


@given(formulas())
def test_random_valid_formulas_parse_and_hill_round_trips(text):
    f = parse_formula(text)
    g = parse_formula(f.hill())
    assert g.counts == f.counts
    assert g.average_mass_da() == pytest.approx(f.average_mass_da(), rel=1e-12)


@given(st.text(alphabet=string.printable, max_size=30))
def test_random_text_never_crashes(text):
    try:
        parse_formula(text)
    except InputError as exc:
        assert "formula" in str(exc)


def _binned_by_round_mass(masses, probs):
    out = {}
    for m, p in zip(masses, probs, strict=True):
        out[round(m)] = out.get(round(m), 0.0) + p
    return out


@pytest.mark.parametrize(
    ("ours", "iso", "cover"),
    [
        ("Cd10P6(OA)2", "Cd10P6C36H66O4", 0.9999),
        # IsoSpecPy enumerates ~13 million fine-structure peaks here (3-8 s alone, minutes on a loaded machine)
        pytest.param("Cd32P20(OA)5", "Cd32P20C90H165O10", 0.999, marks=pytest.mark.slow),
    ],
)
def test_envelope_matches_isospecpy(ours, iso, cover):
    IsoSpecPy = pytest.importorskip("IsoSpecPy")
    dist = IsoSpecPy.IsoTotalProb(formula=iso, prob_to_cover=cover)
    m = np.array(list(dist.masses))
    p = np.array(list(dist.probs))
    theirs = _binned_by_round_mass(m, p / p.sum())
    env = isotope_envelope(ours)
    mine = _binned_by_round_mass(env.mass_da, env.probability)
    keys = set(theirs) | set(mine)
    l1 = sum(abs(mine.get(k, 0) - theirs.get(k, 0)) for k in keys)
    assert l1 <= 1e-3
    # the mean masses agree too
    assert env.average_da == pytest.approx(float(np.sum(m * p) / p.sum()), abs=0.01)


def test_envelope_properties_of_the_paper_fragment():
    env = isotope_envelope("Cd32P20(OA)5")
    assert env.probability.sum() == pytest.approx(1.0, abs=1e-9)
    # the isotope-averaged mass equals the sum of the isotopic compositions' mean masses
    assert env.average_da == pytest.approx(5623.91, abs=0.05)
    assert 20 < env.fwhm_da < 30  # "a ~25 Da envelope"
    assert abs(env.most_abundant_da - env.average_da) < 2
    # single-atom limit: Cd's envelope is its isotope table
    cd = isotope_envelope("Cd")
    assert cd.probability.max() == pytest.approx(0.2873, abs=1e-3)  # 114Cd
    assert cd.nominal_mass[np.argmax(cd.probability)] == 114
    # charge removes electrons and divides m/z
    z2 = isotope_envelope("Cd32P20(OA)5", charge=2)
    assert z2.mz.max() == pytest.approx((env.mass_da.max() - 2 * 5.48579909065e-4) / 2, rel=1e-12)


@pytest.mark.parametrize(
    ("formula", "kwargs"),
    [
        ("Cd32P20(OA)5", {}),
        ("Cd53P33(OA)9+", {}),
        ("Cd10P6(OA)2", {"charge": 2}),
        ("Cd", {}),
        ("P", {}),  # one isotope: a single bin
        ("CH2Br2", {}),  # isotopes two mass units apart: the odd bins are nearly empty
        ("Sn20Cl40", {"min_probability": 1e-4}),
        ("H1000", {}),
        ("In37P20(OA)51", {}),
    ],
)
def test_envelope_fast_path_equals_direct_product(formula, kwargs):
    """The cached log-spectrum path (one exp, one inverse FFT) reproduces the per-element power path."""
    from qdlab.chem.isotopes import _envelope_direct, _plan_for_text

    plan = _plan_for_text(formula, kwargs.get("charge"))
    assert plan.spectra is not None  # the fast path is taken
    fast = isotope_envelope(formula, **kwargs)
    ref = _envelope_direct(plan.formula, plan.charge, kwargs.get("min_probability", 1e-9))
    assert fast.formula == ref.formula and fast.charge == ref.charge
    np.testing.assert_array_equal(fast.nominal_mass, ref.nominal_mass)
    np.testing.assert_allclose(fast.probability, ref.probability, rtol=0, atol=1e-14)
    core = ref.probability > 1e-6 * ref.probability.max()  # tail bins' mean masses are round-off (~1e-4 Da)
    np.testing.assert_allclose(fast.mass_da[core], ref.mass_da[core], rtol=0, atol=1e-5)
    # a Formula object goes through the same cached plan
    again = isotope_envelope(parse_formula(formula), **kwargs)
    np.testing.assert_array_equal(again.probability, fast.probability)


def test_envelope_fft_length_is_the_smallest_5_smooth_length():
    from qdlab.chem.isotopes import _fast_len

    def smooth(m: int) -> bool:
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        return m == 1

    for n in range(2, 3000):
        assert _fast_len(n) == next(m for m in range(n, 2 * n + 1) if smooth(m))


def test_envelope_of_the_empty_formula_uses_the_direct_path():
    from qdlab.chem.formula import Formula

    env = isotope_envelope(Formula({}))
    assert env.nominal_mass.tolist() == [0] and env.probability.tolist() == [1.0]
