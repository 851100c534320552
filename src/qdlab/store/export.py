"""Exports of one experiment: plain JSON, and ``.eln`` (RO-Crate 1.1 zip) for lab notebooks.

The ``.eln`` layout follows the ELN Consortium's specification (a zip with ONE root folder holding
``ro-crate-metadata.json``; eLabFTW, Kadi4Mat, PASTA, SampleDB, RSpace and NOMAD import it):

    <key>/ro-crate-metadata.json
    <key>/<key>/record.json                          the experiment as stored (qdlab db show --json)
    <key>/<key>/raw/<original path>                  raw instrument files (and the recipe), byte-identical
    <key>/<key>/arrays/<kind>-<file>-<hash>.parquet  analysed arrays, named after their file

Each file is a ``File`` entity with ``name`` (file name and what it is: kind, aliquot, role),
``contentSize``, ``sha256`` and ``encodingFormat``; the experiment is a ``Dataset`` whose ``text``
summarises the aliquot series, whose ``author`` is the manifest's operator (a ``Person``) and whose
``keywords`` is one comma-separated string (with the experiment's tags). :func:`import_eln` restores the experiment from such an
archive (every file checked against its sha256).
"""

from __future__ import annotations

import datetime as _dt
import json
import mimetypes
import os
import zipfile
from pathlib import Path
from typing import Any

from qdlab.data.errors import InputError

ELN_SPEC = "https://purl.archive.org/purl/elnconsortium/eln-spec/1.1"


def export_json(store: Any, ident: int | str, path: str | os.PathLike[str]) -> Path:
    """Write the experiment as one JSON document."""
    from qdlab.data.types import dumps_json as dumps

    data = store.experiment_dict(ident)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json.loads(dumps(data)), indent=2), encoding="utf-8")
    return out


def _file_entity(fid: str, name: str, size: int, sha256: str, description: str) -> dict[str, Any]:
    fmt = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".parquet"):
        fmt = "application/vnd.apache.parquet"
    return {"@id": fid, "@type": "File", "name": name, "description": description,
            "encodingFormat": fmt, "contentSize": str(size), "sha256": sha256}


def _utc(stamp: str) -> str:
    """A stored (naive UTC) ISO time as an RFC 3339 date-time with its offset."""
    return stamp if stamp.endswith(("Z", "+00:00")) else stamp + "+00:00"


def _series_html(data: dict[str, Any]) -> str:
    rows = data.get("summary", {}).get("aliquots", [])
    if not rows:
        return f"<p>{data.get('title') or data['key']}</p>"
    head = "<tr><th>aliquot</th><th>time (min)</th><th>PL peak (nm)</th><th>FWHM (meV)</th><th>PLQY (%)</th></tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{'' if r.get(k) is None else r.get(k)}</td>"
                         for k in ("aliquot", "time_min", "pl_peak_nm", "fwhm_mev", "qy_percent")) + "</tr>"
        for r in rows
    )
    return f"<p>{data.get('title') or data['key']}</p><table>{head}{body}</table>"


def _what(m: dict[str, Any]) -> str:
    """``pl, aliquot A0`` / ``ms, role after``: what a measurement is, for names and descriptions."""
    parts = [m["kind"]]
    if m.get("aliquot"):
        parts.append(f"aliquot {m['aliquot']}")
    if m.get("role"):
        parts.append(f"role {m['role']}")
    return ", ".join(parts)


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")
    return out or "x"


def export_eln(store: Any, ident: int | str, path: str | os.PathLike[str]) -> Path:
    """Write the experiment as an ``.eln`` archive (RO-Crate zip); returns the path.

    Raw files keep their path under ``raw/`` and are named ``<file> (<kind>, aliquot .., role ..)``;
    array tables are ``arrays/<kind>-<file>-<hash[:12]>.parquet`` named after the file they belong to;
    the manifest's operator is the experiment's ``author`` (a ``Person``); ``keywords`` is one
    comma-separated string (the ELN Consortium's convention). A raw file or array missing from this
    machine's stores is an error (the archive would silently be incomplete).
    """
    from qdlab import __version__
    from qdlab.data.types import dumps_json as dumps

    data = store.experiment_dict(ident)
    key = data["key"]
    out = Path(path)
    if out.suffix != ".eln":
        raise InputError(f"an ELN archive must end in .eln, got {out.name}", field="--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    root = _slug(key)
    exp_dir = f"./{root}/"
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    record_bytes = json.dumps(json.loads(dumps(data)), indent=2).encode()

    tmp = out.with_name(out.name + ".part")
    try:
        _write_eln(store, tmp, data, key, root, exp_dir, now, record_bytes, __version__)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    return out


def _write_eln(store: Any, tmp: Path, data: dict[str, Any], key: str, root: str, exp_dir: str, now: str,
               record_bytes: bytes, version: str) -> None:
    import hashlib

    parts: list[dict[str, Any]] = []
    graph: list[dict[str, Any]] = []
    missing: list[str] = []
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        rid = f"{exp_dir}record.json"
        zf.writestr(f"{root}/{root}/record.json", record_bytes)
        graph.append(_file_entity(rid, "record.json", len(record_bytes), hashlib.sha256(record_bytes).hexdigest(),
                                  "qdlab record of the experiment (measurements, analyses, calibrations, history)"))
        parts.append({"@id": rid})
        rec = data.get("recipe")
        if rec and rec.get("content") is not None:
            body = rec["content"].encode()
            fid = f"{exp_dir}raw/{rec['source_name']}"
            zf.writestr(f"{root}/{root}/raw/{rec['source_name']}", body)
            graph.append(_file_entity(fid, f"{Path(rec['source_name']).name} (recipe)", len(body),
                                      hashlib.sha256(body).hexdigest(), "synthesis recipe file"))
            parts.append({"@id": fid})
        arrays_of: dict[str, str] = {}
        for m in data["measurements"]:
            folder_files = m.get("meta", {}).get("files")
            items = (
                [(f"{m['source_name']}/{rel}", digest) for rel, digest in folder_files.items()]
                if folder_files else [(m["source_name"], m["sha256"])]
            )
            for rel, digest in items:
                blob = store.blobs.ensure(digest)
                if blob is None:
                    missing.append(rel)
                    continue
                fid = f"{exp_dir}raw/{rel}"
                zf.write(blob, f"{root}/{root}/raw/{rel}")
                graph.append(_file_entity(fid, f"{Path(rel).name} ({_what(m)})", blob.stat().st_size, digest,
                                          f"raw {_what(m)} file {rel}"))
                parts.append({"@id": fid})
            if m.get("array_sha256"):
                arrays_of.setdefault(m["array_sha256"], f"{m['kind']}-{Path(m['source_name']).stem}")
        for r in data["results"]:
            if r.get("array_sha256"):
                arrays_of.setdefault(r["array_sha256"], f"{r['analysis']}-{Path(r.get('source_name') or 'series').stem}")
        for h, label in sorted(arrays_of.items()):
            p = store.arrays.ensure(h)
            if p is None:
                missing.append(f"arrays {label}")
                continue
            name = f"{_slug(label)}-{h[:12]}.parquet"
            fid = f"{exp_dir}arrays/{name}"
            zf.write(p, f"{root}/{root}/arrays/{name}")
            graph.append(_file_entity(fid, name, p.stat().st_size, h, f"analysed arrays of {label} (Parquet)"))
            parts.append({"@id": fid})
        if missing:
            raise InputError(
                f"{len(missing)} file(s) of {key} are not in this machine's file store "
                f"({store.blobs.root.parent}): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; "
                "export from the machine that ran qdlab run, or share the store (QDLAB_ARRAY_DIR)", field="ID")
        dataset: dict[str, Any] = {
            "@id": exp_dir, "@type": "Dataset", "name": data.get("title") or key, "identifier": key,
            "dateCreated": _utc(data["created_at"]), "dateModified": _utc(data["updated_at"]),
            "text": _series_html(data), "keywords": ", ".join(["quantum dots", data["material"], "qdlab", *(data.get("tags") or [])]),
            "hasPart": parts,
        }
        people: list[dict[str, Any]] = []
        operator = (data.get("meta") or {}).get("operator")
        if operator:
            pid = f"#person-{_slug(str(operator))}"
            people.append({"@id": pid, "@type": "Person", "name": str(operator)})
            dataset["author"] = {"@id": pid}
        crate = {
            "@context": "https://w3id.org/ro/crate/1.1/context",
            "@graph": [
                {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"},
                 "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"}, "version": "1.0",
                 "additionalType": ELN_SPEC, "dateCreated": now, "sdPublisher": {"@id": "#qdlab"}},
                {"@id": "#qdlab", "@type": "Organization", "name": "qdlab", "description": f"qdlab {version}"},
                {"@id": "./", "@type": "Dataset", "name": f"qdlab export of {key}", "datePublished": now,
                 "description": f"Experiment {key} from a qdlab record: raw instrument files, analysed arrays "
                                "(Parquet) and the stored analyses (record.json).",
                 "hasPart": [{"@id": exp_dir}]},
                dataset,
                *people,
                *graph,
            ],
        }
        zf.writestr(f"{root}/ro-crate-metadata.json", json.dumps(crate, indent=2))


def import_eln(store: Any, path: str | os.PathLike[str]) -> Any:
    """Restore an experiment from a qdlab ``.eln`` archive into ``store``; returns the save outcome.

    Every raw file and array table is checked against its sha256 before anything is stored; the
    experiment is then saved like a run (created, replaced with the old version kept, or unchanged
    when the record already holds the same fingerprint).
    """
    import hashlib
    import tempfile

    from qdlab.data.errors import FormatError
    from qdlab.store.record import (
        AliquotRecord,
        CalibrationRecord,
        ExperimentRecord,
        MeasurementRecord,
        RecipeRecord,
        ResultRecord,
    )

    src = Path(path)
    if not src.is_file():
        raise InputError(f"no such file: {src}", field="FILE")
    try:
        zf = zipfile.ZipFile(src)
    except zipfile.BadZipFile as exc:
        raise FormatError("not an .eln archive (not a zip file)", path=src) from exc
    with zf, tempfile.TemporaryDirectory(prefix="qdlab-eln-") as tmpdir:
        names = zf.namelist()
        meta_names = [n for n in names if n.count("/") == 1 and n.endswith("/ro-crate-metadata.json")]
        if len(meta_names) != 1:
            raise FormatError("expected one <folder>/ro-crate-metadata.json in the archive", path=src)
        root = meta_names[0].split("/", 1)[0]
        try:
            crate = json.loads(zf.read(meta_names[0]))
        except ValueError as exc:
            raise FormatError(f"ro-crate-metadata.json is not JSON: {exc}", path=src) from exc
        by_id = {n.get("@id"): n for n in crate.get("@graph", []) if isinstance(n, dict)}
        record_ids = [i for i, n in by_id.items() if isinstance(i, str) and i.endswith("/record.json")
                      and n.get("@type") == "File"]
        if len(record_ids) != 1:
            raise FormatError("not a qdlab export: no record.json in the crate", path=src)

        def member(fid: str) -> str:
            return f"{root}/{fid[2:] if fid.startswith('./') else fid}"

        def read_checked(fid: str) -> bytes:
            ent = by_id[fid]
            try:
                body = zf.read(member(fid))
            except KeyError as exc:
                raise FormatError(f"{fid} is listed in the crate but not in the archive", path=src) from exc
            if ent.get("sha256") and hashlib.sha256(body).hexdigest() != ent["sha256"]:
                raise FormatError(f"{fid} does not match its sha256 (damaged archive?)", path=src)
            return body

        data = json.loads(read_checked(record_ids[0]))
        exp_dir = record_ids[0][: -len("record.json")]
        by_sha = {n.get("sha256"): i for i, n in by_id.items() if n.get("@type") == "File" and n.get("sha256")}
        tmp = Path(tmpdir)

        def raw_file(rel: str, digest: str) -> Path:
            fid = f"{exp_dir}raw/{rel}"
            if fid not in by_id:
                raise FormatError(f"raw file {rel} of the record is not in the archive", path=src)
            body = read_checked(fid)
            if hashlib.sha256(body).hexdigest() != digest:
                raise FormatError(f"raw file {rel} does not match the record's sha256", path=src)
            target = tmp / "raw" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            return target

        def array(h: str | None) -> str | None:
            if not h:
                return None
            if h not in by_sha:
                raise FormatError(f"array table {h[:12]} of the record is not in the archive", path=src)
            return store.arrays.put_bytes(read_checked(by_sha[h]), h)

        measurements = []
        for m in data["measurements"]:
            files = (m.get("meta") or {}).get("files")
            if files:
                for rel, digest in files.items():
                    raw_file(f"{m['source_name']}/{rel}", digest)
                p = tmp / "raw" / m["source_name"]
            else:
                p = raw_file(m["source_name"], m["sha256"])
            measurements.append(MeasurementRecord(
                kind=m["kind"], source_name=m["source_name"], size_bytes=int(m["size_bytes"]), sha256=m["sha256"],
                role=m.get("role"), aliquot_label=m.get("aliquot"), path=p, meta=m.get("meta") or {},
                array_sha256=array(m.get("array_sha256")),
            ))
        kinds = {m["source_name"]: m["kind"] for m in data["measurements"]}
        results = [
            ResultRecord(
                analysis=r["analysis"], status=r["status"], result=r.get("result") or {},
                parameters=r.get("parameters") or {}, error=r.get("error"), source_name=r.get("source_name"),
                kind=r.get("kind") or kinds.get(r.get("source_name") or ""), array_sha256=array(r.get("array_sha256")),
                qdlab_version=r.get("qdlab_version"),
            )
            for r in data["results"]
        ]
        rec = data.get("recipe")
        recipe = None if not rec else RecipeRecord(
            rec["source_name"], int(rec["size_bytes"]), rec["sha256"], rec.get("content") or "", rec.get("data") or {})
        record = ExperimentRecord(
            key=data["key"], material=data["material"], manifest_sha256=data["manifest_sha256"],
            fingerprint=data["fingerprint"], title=data.get("title") or "", seed_batch=data.get("seed_batch"),
            folder=data.get("folder") or "", synthetic=bool(data.get("synthetic")), meta=data.get("meta") or {},
            summary=data.get("summary") or {}, recipe=recipe,
            aliquots=[AliquotRecord(a["label"], int(a["position"]), a.get("time_min"), a.get("volume_ml"))
                      for a in data["aliquots"]],
            measurements=measurements, results=results,
            calibrations=[CalibrationRecord(c["scenario"], c["status"], c.get("parameters") or {}, c.get("result") or {},
                                            c.get("cost"), c.get("error"), c.get("qdlab_version"))
                          for c in data["calibrations"]],
            qdlab_version=data.get("qdlab_version"), tags=tuple(data.get("tags") or ()),
        )
        return store.save_experiment(record)


__all__ = ["export_json", "export_eln", "import_eln"]
