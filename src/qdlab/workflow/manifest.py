"""The experiment folder's manifest, ``experiment.toml``: validated with field-level errors.

A manifest names the material, the recipe file, the seed batch, the aliquots with their times and
files (PL, absorbance, integrating-sphere PLQY scans), and the MALDI, TEM and XRD files with their roles.
All paths are relative to the folder and are checked to exist before anything is stored.
:func:`load_manifest` raises one :class:`~qdlab.data.errors.FormatError` that lists every problem as
``experiment.toml: aliquots[2].pl: ...``. :data:`TEMPLATE` is what ``qdlab init`` writes.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qdlab.data.errors import FormatError, InputError

MANIFEST_NAME = "experiment.toml"

RelPath = Annotated[str, Field(min_length=1, description="Path relative to the experiment folder.")]


def _default(name: str) -> Any:
    """A manifest default from ``resources/workflow/defaults.toml`` (value, unit and source live there)."""
    from qdlab.resources import load_toml

    return load_toml("workflow/defaults.toml")["plqy"][name]["value"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ExperimentInfo(_Model):
    """The ``[experiment]`` table."""

    id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    title: str = ""
    material: str = "Cd3P2"
    date: str | None = None
    operator: str | None = None
    seed_batch: str | None = None
    synthetic: bool = False
    notes: str = ""

    @field_validator("material")
    @classmethod
    def _known_material(cls, v: str) -> str:
        from qdlab.materials import get_material

        try:
            get_material(v)
        except Exception as exc:
            raise ValueError(str(exc)) from exc
        return v


class RecipeRef(_Model):
    """The ``[recipe]`` table: the synthesis recipe file and the twin scenario it corresponds to."""

    file: RelPath | None = None
    scenario: str | None = Field(None, description="Twin scenario to calibrate, e.g. overgrowth-1010nm.")

    @field_validator("scenario")
    @classmethod
    def _known_scenario(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from qdlab.resources import resource_names

        names = resource_names("twin/scenarios")  # the twin's shipped scenarios, without importing the twin
        if v not in names:
            raise ValueError(f"unknown twin scenario {v!r}; shipped: {', '.join(names)}")
        return v


class TargetSpec(_Model):
    """The ``[target]`` table: what the next experiment should give. With it, ``qdlab run`` ends with the
    next recipe planned on the twin just calibrated to this run (:mod:`qdlab.plan.nextrun`).

    ``campaign`` (and this run's ``trial`` in it) only shape the ``qdlab campaign`` commands shown with
    the recipe; nothing is written to a campaign by ``qdlab run``.
    """

    wavelength_nm: Annotated[float, Field(gt=700, lt=3000, description="Wanted final PL peak (nm).")]
    max_fwhm_mev: Annotated[float | None, Field(gt=0, le=1000, description="Final PL FWHM at most this (meV).")] = None
    min_qy_percent: Annotated[float | None, Field(gt=0, le=100, description="Final PLQY at least this (%).")] = None
    campaign: Annotated[str | None, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = None
    trial: Annotated[int | None, Field(ge=0, description="This run's trial number in the campaign (from `qdlab campaign ask`).")] = None

    @model_validator(mode="after")
    def _trial_needs_campaign(self) -> TargetSpec:
        if self.trial is not None and self.campaign is None:
            raise ValueError("trial is this run's trial number in a campaign: give campaign = \"NAME\" too")
        return self


class PlqyScans(_Model):
    """Integrating-sphere scans of one aliquot.

    ``method = "two_step"`` needs ``blank`` (solvent) and ``sample``; ``"demello"`` needs ``a`` (empty
    sphere), ``b`` (sample out of beam) and ``c`` (sample in beam).
    """

    method: Literal["two_step", "demello"] = "two_step"
    blank: RelPath | None = None
    sample: RelPath | None = None
    a: RelPath | None = None
    b: RelPath | None = None
    c: RelPath | None = None
    excitation_nm: Annotated[float, Field(gt=200, lt=2000)] = Field(default_factory=lambda: _default("excitation_nm"))
    excitation_halfwidth_nm: Annotated[float, Field(gt=0, lt=200)] = Field(
        default_factory=lambda: _default("excitation_halfwidth_nm"))
    emission_window_nm: tuple[float, float] = Field(default_factory=lambda: tuple(_default("emission_window_nm")))

    @field_validator("emission_window_nm")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] < v[1]:
            raise ValueError(f"expected [low, high] in nm with 0 < low < high, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _files_for_method(self) -> PlqyScans:
        lo, hi = self.excitation_nm - self.excitation_halfwidth_nm, self.excitation_nm + self.excitation_halfwidth_nm
        if hi > self.emission_window_nm[0] and lo < self.emission_window_nm[1]:
            raise ValueError(f"the excitation window {lo:g}-{hi:g} nm overlaps the emission window "
                             f"{self.emission_window_nm[0]:g}-{self.emission_window_nm[1]:g} nm")
        need = ("blank", "sample") if self.method == "two_step" else ("a", "b", "c")
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"method {self.method!r} needs {', '.join(need)}; missing {', '.join(missing)}")
        return self

    def files(self) -> dict[str, str]:
        """Role -> relative path of the scans this method uses."""
        names = ("blank", "sample") if self.method == "two_step" else ("a", "b", "c")
        return {n: str(getattr(self, n)) for n in names}


class AliquotEntry(_Model):
    """One ``[[aliquots]]`` entry."""

    id: Annotated[str, Field(min_length=1, max_length=50)]
    time_min: Annotated[float, Field(ge=0)]
    volume_ml: Annotated[float | None, Field(gt=0)] = None
    pl: RelPath | None = None
    absorbance: RelPath | None = None
    plqy: PlqyScans | None = None
    qy_percent: Annotated[float | None, Field(ge=0, le=100, description="PLQY measured elsewhere.")] = None


class FileEntry(_Model):
    """A ``[[ms]]``, ``[[tem]]`` or ``[[xrd]]`` entry: a file (or Bruker folder) and its role."""

    path: RelPath
    role: Literal["clusters", "before", "after", "seed", "product", "other"]
    mode: Literal["linear", "reflectron"] | None = None
    label: str = ""


class ReferenceValues(_Model):
    """The ``[reference]`` table: values reported elsewhere (e.g. the paper), shown beside ours in the report."""

    source: str = ""
    initial_nm: Annotated[float | None, Field(gt=0)] = None
    initial_qy_percent: Annotated[float | None, Field(ge=0, le=100)] = None
    brightest_nm: Annotated[float | None, Field(gt=0)] = None
    brightest_qy_percent: Annotated[float | None, Field(ge=0, le=100)] = None
    final_nm: Annotated[float | None, Field(gt=0)] = None
    final_qy_percent: Annotated[float | None, Field(ge=0, le=100)] = None
    tem_before_nm: Annotated[float | None, Field(gt=0)] = None
    tem_after_nm: Annotated[float | None, Field(gt=0)] = None
    ms_before_da: Annotated[float | None, Field(gt=0)] = None
    ms_after_da: Annotated[float | None, Field(gt=0)] = None


class Manifest(_Model):
    """A whole ``experiment.toml``."""

    experiment: ExperimentInfo
    recipe: RecipeRef = RecipeRef()
    target: TargetSpec | None = None
    reference: ReferenceValues = ReferenceValues()
    aliquots: list[AliquotEntry] = Field(default_factory=list)
    ms: list[FileEntry] = Field(default_factory=list)
    tem: list[FileEntry] = Field(default_factory=list)
    xrd: list[FileEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_aliquots(self) -> Manifest:
        seen: set[str] = set()
        for a in self.aliquots:
            if a.id in seen:
                raise ValueError(f"aliquot id {a.id!r} appears twice")
            seen.add(a.id)
        return self

    def files(self) -> list[tuple[str, str, str | None, str | None]]:
        """Every referenced file as ``(field, relative path, aliquot id, role)``."""
        out: list[tuple[str, str, str | None, str | None]] = []
        if self.recipe.file:
            out.append(("recipe.file", self.recipe.file, None, None))
        for i, a in enumerate(self.aliquots):
            if a.pl:
                out.append((f"aliquots[{i}].pl", a.pl, a.id, None))
            if a.absorbance:
                out.append((f"aliquots[{i}].absorbance", a.absorbance, a.id, None))
            if a.plqy:
                for role, rel in a.plqy.files().items():
                    out.append((f"aliquots[{i}].plqy.{role}", rel, a.id, role))
        for kind in ("ms", "tem", "xrd"):
            for i, f in enumerate(getattr(self, kind)):
                out.append((f"{kind}[{i}].path", f.path, None, f.role))
        return out


def _loc(loc: tuple[object, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]"] if parts else [f"[{p}]"]
        else:
            parts.append(str(p))
    return ".".join(parts)


def _line_of(text: str, field: str) -> int | None:
    """Best-effort 1-based line of the last key of ``field`` in the TOML text."""
    key = re.split(r"[.\[]", field.rsplit(".", 1)[-1])[0]
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return i
    return None


def parse_manifest(text: str, path: str | Path = MANIFEST_NAME) -> Manifest:
    """Validate manifest TOML ``text``; errors name ``path`` and every offending field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise FormatError(f"not valid TOML: {exc}", path=path, line=int(m.group(1)) if m else None) from exc
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = _loc(err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check spelling; see `qdlab init` for the template)"
            elif err["type"] == "missing":
                msg = "required key is missing"
            problems.append(f"{field}: {msg}")
        first = _loc(exc.errors()[0]["loc"])
        line = _line_of(text, first) if len(problems) == 1 else None
        raise FormatError("; ".join(problems), path=path, line=line) from exc


def load_manifest(folder: str | Path) -> tuple[Manifest, Path, str]:
    """Read and check ``<folder>/experiment.toml``.

    Returns the manifest, the folder (resolved) and the manifest's sha256. Every file it references
    must exist inside the folder; all missing ones are reported in one :class:`FormatError`.
    """
    root = Path(folder)
    if not root.exists():
        raise InputError(f"experiment folder not found: {root}", field="DIR")
    if not root.is_dir():
        raise InputError(f"expected an experiment folder, got a file: {root}", field="DIR")
    root = root.resolve()
    mpath = root / MANIFEST_NAME
    if not mpath.is_file():
        raise InputError(f"no {MANIFEST_NAME} in {root} (create one with `qdlab init {root}`)", field="DIR")
    data = mpath.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError("not UTF-8 text", path=mpath) from exc
    manifest = parse_manifest(text, mpath)
    problems = []
    for field, rel, _aliquot, _role in manifest.files():
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            problems.append(f"{field}: {rel!r} must be a relative path inside the folder")
            continue
        try:
            found = (root / p).exists()
        except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte in it ...
            shown = rel if len(rel) <= 80 else rel[:80] + "..."
            problems.append(f"{field}: {shown!r} is not a usable file name ({getattr(exc, 'strerror', None) or exc})")
            continue
        if not found:
            problems.append(f"{field}: file not found: {rel}")
    if problems:
        raise FormatError("; ".join(problems), path=mpath)
    return manifest, root, hashlib.sha256(data).hexdigest()


TEMPLATE = '''\
# qdlab experiment manifest. Paths are relative to this folder.
# Check it with `qdlab run DIR --dry-run`; run the whole analysis with `qdlab run DIR`.

[experiment]
id = "{id}"                 # unique key in the record: re-running this folder updates it
title = "Overgrowth of Cd3P2 MSCs on seed QDs"
material = "Cd3P2"                     # see `qdlab materials`
date = "2025-01-01"
operator = ""
seed_batch = "QD-seed-001"             # batch of seed QDs that was overgrown
synthetic = false                      # true for data made by the twin / generators

[recipe]
# file = "recipe.toml"                 # the synthesis recipe (kept verbatim in the record)
scenario = "overgrowth-1010nm"         # twin scenario calibrated to the PL series (`qdlab twin scenarios`)

# [target]                             # name one and `qdlab run` plans the next recipe on the calibrated twin
# wavelength_nm = 1300                 # wanted final PL peak
# max_fwhm_mev = 150                   # optional: final PL FWHM at most this
# min_qy_percent = 10                  # optional: final PLQY at least this (checked when measured)
# campaign = "to-1300nm"               # optional: show the `qdlab campaign` commands for this campaign
# trial = 0                            # optional: this run's trial number in that campaign

# One [[aliquots]] entry per aliquot, in order. Files: PL and absorbance (Ocean Optics, Cary CSV or
# two-column text), optional integrating-sphere scans for the PLQY, or a PLQY measured elsewhere.
[[aliquots]]
id = "A0"
time_min = 0.0
pl = "pl/A0.txt"
absorbance = "abs/A0.csv"
# plqy = {{ method = "two_step", blank = "plqy/blank.txt", sample = "plqy/A0.txt", excitation_nm = 808 }}
# qy_percent = 13.0

# [[aliquots]]
# id = "A1"
# time_min = 5.0
# pl = "pl/A1.txt"

# MALDI-TOF (Bruker flex folder or mzML/text), role = clusters | before | after
# [[ms]]
# path = "ms/before"
# role = "before"
# mode = "linear"

# TEM (calibrated TIFF, DM3/DM4, SER/EMD)
# [[tem]]
# path = "tem/before.tif"
# role = "before"

# Powder XRD (.xy, .xrdml, .brml, .ras)
# [[xrd]]
# path = "xrd/after.xy"
# role = "after"
'''


def write_template(folder: str | Path, experiment_id: str | None = None, *, overwrite: bool = False) -> Path:
    """Write a commented ``experiment.toml`` template into ``folder`` (created if needed)."""
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise InputError(f"expected a folder, got a file: {root}", field="DIR")
    root.mkdir(parents=True, exist_ok=True)
    target = root / MANIFEST_NAME
    if target.exists() and not overwrite:
        raise InputError(f"{target} already exists (use --force to overwrite)", field="DIR")
    ident = experiment_id or re.sub(r"[^A-Za-z0-9._-]+", "-", root.resolve().name).strip("-._") or "experiment"
    target.write_text(TEMPLATE.format(id=ident), encoding="utf-8")
    return target


__all__ = [
    "MANIFEST_NAME",
    "Manifest",
    "ExperimentInfo",
    "RecipeRef",
    "TargetSpec",
    "AliquotEntry",
    "PlqyScans",
    "FileEntry",
    "ReferenceValues",
    "parse_manifest",
    "load_manifest",
    "write_template",
    "TEMPLATE",
]
