import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from qdlab.data.errors import InputError
from qdlab.materials import get_material
from qdlab.xrd.structure import (
    PHASES,
    carve_sphere,
    cd3p2_structure,
    enumerate_zn3p2_orderings,
    load_cif,
    phase_structure,
)


def test_cd3p2_cell_is_zn3p2_type():
    s = cd3p2_structure()
    assert len(s) == 40 and s.composition.reduced_formula == "Cd3P2"
    sga = SpacegroupAnalyzer(s, symprec=1e-3)
    assert sga.get_space_group_number() == 137
    sym = sga.get_symmetrized_structure()
    wy = sorted((sites[0].specie.symbol, w) for sites, w in zip(sym.equivalent_sites, sym.wyckoff_symbols, strict=True))
    assert wy == [("Cd", "8g")] * 3 + [("P", "4c"), ("P", "4d"), ("P", "8f")]


def test_density_agrees_with_materials_xray_density():
    assert cd3p2_structure().density == pytest.approx(get_material("Cd3P2").density_g_per_cm3("xray"), rel=1e-3)


def test_every_p_has_six_cd_neighbours_and_cd_four_p():
    s = cd3p2_structure()
    a_c = s.lattice.c / 2
    cut = np.sqrt(3) / 4 * a_c + 0.05
    for site in s:
        nb = s.get_neighbors(site, cut)
        if site.specie.symbol == "P":
            assert len(nb) == 6 and all(n.specie.symbol == "Cd" for n in nb)
        else:
            assert len(nb) == 4 and all(n.specie.symbol == "P" for n in nb)


@pytest.mark.parametrize("phase", PHASES)
def test_shipped_cif_matches_build(phase):
    assert StructureMatcher().fit(load_cif(phase), phase_structure(phase))


def test_alternative_phases():
    assert SpacegroupAnalyzer(phase_structure("Cd")).get_space_group_symbol() == "P6_3/mmc"
    assert SpacegroupAnalyzer(phase_structure("CdO")).get_space_group_symbol() == "Fm-3m"


def test_carved_sphere_count_and_stoichiometry():
    s = cd3p2_structure()
    pos, sym = carve_sphere(s, 5.0)
    expected = len(s) / s.volume * (4 / 3) * np.pi * 25.0**3
    assert len(pos) == pytest.approx(expected, rel=0.03)
    assert sym.count("Cd") / sym.count("P") == pytest.approx(1.5, rel=0.05)
    assert np.max(np.linalg.norm(pos, axis=1)) <= 25.0


def test_carve_rejects_bad_diameter():
    with pytest.raises(InputError):
        carve_sphere(cd3p2_structure(), -1.0)


@pytest.mark.slow
def test_d59_ordering_is_unique_in_p42nmc():
    counts = enumerate_zn3p2_orderings()
    assert sum(counts.values()) == 1448
    assert counts["P4_2/nmc (137)"] == 20
