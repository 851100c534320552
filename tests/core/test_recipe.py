import pytest

from qdlab.chem.reagents import get_reagent, parse_amount, resolve_amount
from qdlab.chem.recipe import check_recipe, list_recipes, load_recipe
from qdlab.data import FormatError, InputError


@pytest.mark.parametrize(
    "name",
    [
        "msc-synthesis",
        "hot-injection-965nm",
        "hot-injection-1010nm",
        "hot-injection-1102nm",
        "hot-injection-1145nm",
        "cluster-solution",
    ],
)
def test_paper_recipes_are_cd_rich_3_to_1(name):
    # every recipe of the paper uses Cd:P = 3 (0.30/0.10 mmol; 1.5 mmol CdO / 0.145 mL TMSP; 3.0 mmol / 290 uL TMSP)
    report = check_recipe(load_recipe(name))
    assert report["cd_to_p"] == pytest.approx(3.0, abs=0.01)


def test_tmsp_volume_to_mmol():
    tmsp = get_reagent("P(TMS)3")
    assert tmsp.molar_mass_g_per_mol == pytest.approx(250.54, abs=0.02)
    assert resolve_amount(tmsp, parse_amount("290 µL")).mmol == pytest.approx(0.999, abs=0.002)
    assert resolve_amount(tmsp, parse_amount("0.145 ml")).mmol == pytest.approx(0.4995, abs=0.001)


def test_cluster_solution_concentrations():
    r = check_recipe(load_recipe("cluster-solution"))
    assert r["cd_mmol"] == pytest.approx(3.0)
    assert r["total_volume_ml"] == pytest.approx(12.29, abs=0.01)
    assert r["cd3p2_limit_mmol"] == pytest.approx(0.4995, abs=0.001)  # P-limited


def test_all_shipped_recipes_load():
    assert len(list_recipes()) >= 7
    for n in list_recipes():
        load_recipe(n)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[recipe]\nname="x"\n[[components]]\nreagent="CdO"\namount="-1 mmol"\n', "components[0].amount"),
        ('[recipe]\nname="x"\n[[components]]\nreagent="Kryptonite"\namount="1 mmol"\n', "components[0].reagent"),
        ('[recipe]\nname="x"\ncolour="red"\n[[components]]\nreagent="CdO"\namount="1 mmol"\n', "recipe.colour"),
        ('[recipe]\nname="x"\n[[components]]\nreagent="CdO"\namount="1 parsec"\n', "components[0].amount"),
        (
            '[recipe]\nname="x"\n[[components]]\nreagent="CdO"\namount="1 mmol"\n[[steps]]\naction="heat"\ntemperature_c=-300\n',
            "steps[0].temperature_c",
        ),
        ('[recipe]\nname="x"\n', "components"),
    ],
)
def test_bad_recipes_name_the_field(tmp_path, text, field):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(FormatError) as exc:
        load_recipe(p)
    assert field in str(exc.value) and str(p) in str(exc.value)


def test_not_toml_and_missing(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("[recipe\n")
    with pytest.raises(FormatError, match="not valid TOML"):
        load_recipe(p)
    with pytest.raises(InputError, match="not found"):
        load_recipe(tmp_path / "nope.toml")


def test_volume_of_solid_without_density_is_refused():
    with pytest.raises(InputError, match="no density"):
        resolve_amount(get_reagent("cadmium oleate"), parse_amount("1 ml"))
