"""Manifest validation: field-level errors naming file and field, template round trip, file checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlab.data.errors import FormatError, InputError
from qdlab.workflow.manifest import MANIFEST_NAME, load_manifest, parse_manifest, write_template

GOOD = """
[experiment]
id = "exp-1"
material = "Cd3P2"

[[aliquots]]
id = "A0"
time_min = 0
pl = "pl/A0.txt"
plqy = { method = "two_step", blank = "plqy/blank.txt", sample = "plqy/A0.txt" }

[[ms]]
path = "ms/before"
role = "before"
mode = "linear"
"""


def _folder(tmp_path: Path, text: str = GOOD, files: tuple[str, ...] = ("pl/A0.txt", "plqy/blank.txt", "plqy/A0.txt")) -> Path:
    (tmp_path / MANIFEST_NAME).write_text(text)
    for f in files:
        p = tmp_path / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("1 2\n")
    (tmp_path / "ms" / "before").mkdir(parents=True, exist_ok=True)
    return tmp_path


def test_good_manifest_lists_every_file(tmp_path: Path) -> None:
    m, root, sha = load_manifest(_folder(tmp_path))
    assert m.experiment.id == "exp-1"
    assert [f[1] for f in m.files()] == ["pl/A0.txt", "plqy/blank.txt", "plqy/A0.txt", "ms/before"]
    assert root == tmp_path.resolve()
    assert len(sha) == 64


def test_unknown_key_names_file_and_field(tmp_path: Path) -> None:
    text = GOOD.replace('time_min = 0', 'time_min = 0\ntemperature = 180')
    with pytest.raises(FormatError) as exc:
        load_manifest(_folder(tmp_path, text))
    msg = str(exc.value)
    assert MANIFEST_NAME in msg and "aliquots[0].temperature" in msg and "unknown key" in msg


def test_every_problem_reported_together(tmp_path: Path) -> None:
    text = GOOD.replace('time_min = 0', 'time_min = -5').replace('role = "before"', 'role = "middle"')
    with pytest.raises(FormatError) as exc:
        parse_manifest(text, "x/experiment.toml")
    msg = str(exc.value)
    assert "aliquots[0].time_min" in msg and "ms[0].role" in msg and msg.startswith("x/experiment.toml")


def test_plqy_method_needs_its_scans() -> None:
    text = GOOD.replace('blank = "plqy/blank.txt", ', "")
    with pytest.raises(FormatError, match=r"aliquots\[0\]\.plqy.*missing blank"):
        parse_manifest(text)


def test_missing_files_listed_before_anything_is_stored(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as exc:
        load_manifest(_folder(tmp_path, files=("pl/A0.txt",)))
    msg = str(exc.value)
    assert "aliquots[0].plqy.blank: file not found: plqy/blank.txt" in msg
    assert "aliquots[0].plqy.sample" in msg


def test_paths_must_stay_inside_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="relative path inside"):
        load_manifest(_folder(tmp_path, GOOD.replace('pl = "pl/A0.txt"', 'pl = "../secret.txt"')))


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as exc:
        parse_manifest("[experiment]\nid = \n", "e.toml")
    assert exc.value.line == 2


def test_duplicate_aliquot_and_unknown_material() -> None:
    dup = GOOD + '\n[[aliquots]]\nid = "A0"\ntime_min = 5\n'
    with pytest.raises(FormatError, match="appears twice"):
        parse_manifest(dup)
    with pytest.raises(FormatError, match=r"experiment\.material"):
        parse_manifest(GOOD.replace('"Cd3P2"', '"Unobtainium"'))


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_manifest(tmp_path / "nope")
    with pytest.raises(InputError, match="qdlab init"):
        load_manifest(tmp_path)


def test_template_is_a_valid_manifest(tmp_path: Path) -> None:
    path = write_template(tmp_path / "My Run #3")
    m = parse_manifest(path.read_text())
    assert m.experiment.id == "My-Run-3"
    assert m.aliquots[0].pl == "pl/A0.txt"
    with pytest.raises(InputError, match="already exists"):
        write_template(tmp_path / "My Run #3")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_parser_never_crashes_on_arbitrary_text(text: str) -> None:
    try:
        parse_manifest(text)
    except FormatError:
        pass


def _toml_value(v: object) -> str:
    if not isinstance(v, str):
        return repr(v)
    # a TOML basic string: escape backslash, quote and control characters; everything else stays literal
    out = "".join(
        "\\\\" if c == "\\" else '\\"' if c == '"' else f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c
        for c in v
    )
    return f'"{out}"'


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "time_min", "pl", "volume_ml", "qy_percent", "bogus"]),
                       st.one_of(st.integers(-5, 5), st.text(max_size=5),
                                 st.floats(allow_nan=False, allow_infinity=False)), max_size=5))
def test_aliquot_tables_validate_or_fail_cleanly(entry: dict) -> None:
    body = "".join(f"{k} = {_toml_value(v)}\n" for k, v in entry.items())
    text = f'[experiment]\nid = "e"\n\n[[aliquots]]\n{body}'
    try:
        m = parse_manifest(text)
    except FormatError as exc:
        assert "aliquots[0]" in str(exc)
        return
    a = m.aliquots[0]
    assert a.time_min >= 0 and a.id


def test_unknown_twin_scenario_is_a_field_error() -> None:
    pytest.importorskip("qdlab.twin")
    with pytest.raises(FormatError, match=r"recipe\.scenario: unknown twin scenario 'nope'"):
        parse_manifest('[experiment]\nid = "x"\n[recipe]\nscenario = "nope"\n')
