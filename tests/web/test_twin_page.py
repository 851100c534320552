"""The live twin page (issue 20): server-side GET with overrides, refusals naming the field, the spectra arrays."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qdlab.web import create_app
from qdlab.web.twinrun import compact_spectra, parse_more

SCENARIO = "overgrowth-1010nm"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("twin") / "lab.sqlite"
    return TestClient(create_app(f"sqlite:///{db}"), raise_server_exceptions=False)


def _cells(html: str) -> list[list[str]]:
    body = html.split('id="aliquots"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return [re.findall(r"<td>([^<]*)</td>", row) for row in body.split("<tr>")[1:]]


def test_get_with_overrides_renders_the_run_without_javascript(client) -> None:
    from qdlab.twin import load_scenario, simulate

    params = {"scenario": SCENARIO, "rate_ml_per_h": "4", "etch_factor": "2,0", "duration_min": "30",
              "more": "seeds.mass_mg = 25"}
    r = client.get("/twin", params=params)
    assert r.status_code == 200 and "data:image/png;base64," in r.text  # the figure for a browser without JS
    # what was typed is kept in the boxes
    for box in ("rate_ml_per_h", "etch_factor", "duration_min"):
        assert f'name="{box}" id="{box}" data-path' in r.text
    assert 'value="4"' in r.text and 'value="2,0"' in r.text and "seeds.mass_mg = 25</textarea>" in r.text
    # the table is the twin's own run with the same overrides (aliquot times scale with the duration)
    ref = simulate(load_scenario(SCENARIO).with_overrides({
        "protocol.injection_rate_ml_per_h": 4.0, "seeds.surface.etch_factor": 2.0, "protocol.duration_min": 30.0,
        "seeds.mass_mg": 25}))
    rows = _cells(r.text)
    assert len(rows) == len(ref.aliquots)
    for row, a in zip(rows, ref.aliquots, strict=True):
        assert row[0] == a.aliquot_id and float(row[1]) == pytest.approx(a.time_min, abs=0.05)
        assert float(row[2]) == pytest.approx(a.pl_peak_nm, abs=0.5) and row[8] == ("yes" if a.bimodal else "no")
    assert float(rows[-1][1]) == pytest.approx(30.0)
    # the page carries the same arrays for the browser's plot
    data = r.text.split('id="page-data">')[1].split("</script>")[0]
    assert '"pl_spectra"' in data and f'"scenario": "{SCENARIO}"' in data


@pytest.mark.parametrize(("params", "box", "words"), [
    ({"rate_ml_per_h": "fast"}, "rate_ml_per_h", "injection rate must be a number in mL/h"),
    ({"reactivity_factor": "0"}, "reactivity_factor", "seed reactivity factor must be more than 0"),
    ({"temperature_c": "500"}, "temperature_c", "less than 400"),
    ({"more": "params.no_such_rate = 1"}, "more", "unknown kinetic parameter"),
    ({"more": "just words"}, "more", "one override per line as dotted.path = value"),
])
def test_a_refused_box_is_named_beside_it_and_kept(client, params, box, words) -> None:
    r = client.get("/twin", params={"scenario": SCENARIO, **params})
    assert r.status_code == 200 and "data:image/png" not in r.text  # a form with a mistake is a page, not a run
    shown = re.search(rf'<span class="field-error" id="{box}-error" >([^<]*)<', r.text)
    assert shown and words in shown.group(1).replace("&#39;", "'")
    assert re.search(rf'id="{box}"[^>]*aria-invalid="true"', r.text.replace("\n", " "))


def test_the_api_refuses_bad_overrides_with_400_naming_the_field_never_500(client) -> None:
    cases = {
        "protocol.injection_rate_ml_per_h": "abc",
        "protocol.duration_min": "x",  # crashed with ValueError (500) inside Scenario.with_overrides before
        "seeds.surface.reactivity_factor": 0,  # ZeroDivisionError (500) inside the twin before
        "seeds.surface.etch_factor": -2,
        "protocol.temperature_c": float("inf"),
        "protocol.no_such_field": 1,
        "params.no_such_rate": 1,
        "feed.volume_ml": [1, 2],
    }
    for path, value in cases.items():
        body = {"scenario": SCENARIO, "overrides": {path: value}}
        r = client.post("/api/twin/run", content=_json(body), headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        out = r.json()
        assert out["field"] == path and out["detail"].startswith(f"{path}: ") and "\n" not in out["detail"]
    r = client.post("/api/twin/run", json={"scenario": "nope"})
    assert r.status_code == 400 and r.json()["field"] == "scenario"
    assert client.post("/api/twin/run", json={"scenario": SCENARIO, "overrides": "fast"}).status_code == 422


def _json(body: dict) -> str:
    import json

    return json.dumps(body)  # allows Infinity, as a careless client would send


def test_the_api_returns_compact_spectra_and_keeps_its_keys(client) -> None:
    from qdlab.twin import load_scenario, simulate

    r = client.post("/api/twin/run", json={"scenario": SCENARIO,
                                           "overrides": {"protocol.injection_rate_ml_per_h": 6}})
    assert r.status_code == 200
    out = r.json()
    assert {"scenario", "aliquots", "mass_balance_error", "steps", "budget_mmol"} <= set(out)
    assert {"aliquot_id", "time_min", "pl_peak_nm", "fwhm_mev", "mean_diameter_nm", "bimodal"} <= set(out["aliquots"][0])
    spec = out["pl_spectra"]
    ref = simulate(load_scenario(SCENARIO).with_overrides({"protocol.injection_rate_ml_per_h": 6.0}))
    lo, hi = ref.scenario.observation.pl_window_nm
    grid = np.asarray(spec["wavelength_nm"])
    assert spec["window_nm"] == [lo, hi] and lo <= grid.min() and grid.max() <= hi and np.all(np.diff(grid) > 0)
    assert spec["aliquots"] == [a.aliquot_id for a in ref.aliquots] and len(spec["intensity"]) == len(ref.aliquots)
    for y, s, a in zip(spec["intensity"], ref.pl, ref.aliquots, strict=True):
        w = s.to_wavelength()
        exact = w.y[(w.x >= lo) & (w.x <= hi)]
        assert len(y) == len(grid) == len(exact)
        np.testing.assert_allclose(y, exact, rtol=5.01e-4, atol=0)  # 4 significant digits: half a unit in the 4th
        assert all(len(f"{v:.6g}".replace(".", "").replace("-", "").lstrip("0").split("e")[0]) <= 4 for v in y)
        if a.pl_peak_nm is not None and not a.bimodal:  # the plotted curve peaks where the table says
            assert grid[int(np.argmax(y))] == pytest.approx(a.pl_peak_nm, abs=3.0)
    assert out["warnings"] == []
    # an unusual value runs through the API, with the warning the page shows beside the box
    r = client.post("/api/twin/run", json={"scenario": SCENARIO, "overrides": {"protocol.injection_rate_ml_per_h": 500}})
    w = r.json()["warnings"]
    assert r.status_code == 200 and w[0]["field"] == "protocol.injection_rate_ml_per_h" and "500 mL" in w[0]["message"]


def test_scenarios_api_gives_every_box_default(client) -> None:
    out = client.get("/api/twin/scenarios").json()
    assert SCENARIO in out["scenarios"]
    d = out["defaults"][SCENARIO]
    assert d["rate_ml_per_h"] == 8.0 and d["temperature_c"] == 180.0 and d["etch_factor"] == pytest.approx(2.58)
    assert out["fields"]["feed_volume_ml"]["path"] == "feed.volume_ml"


def test_more_overrides_box_reads_json_or_text() -> None:
    assert parse_more("a.b = 1\n\n# c\nx.y = [1, 2]  # note\nname = text") == {"a.b": 1, "x.y": [1, 2], "name": "text"}


def test_compact_spectra_of_a_real_run_is_small() -> None:
    from qdlab.twin import load_scenario, simulate

    out = compact_spectra(simulate(load_scenario(SCENARIO)))
    assert len(out["wavelength_nm"]) < 1201 and len(str(out)) < 80_000
