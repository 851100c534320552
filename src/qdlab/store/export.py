"""Exports of one experiment: plain JSON, and ``.eln`` (RO-Crate 1.1 zip) for lab notebooks.

The ``.eln`` layout follows the ELN Consortium's specification (a zip with ONE root folder holding
``ro-crate-metadata.json``; eLabFTW, Kadi4Mat, PASTA, SampleDB, RSpace and NOMAD import it):

    <key>/ro-crate-metadata.json
    <key>/<key>/record.json              the experiment as stored (qdlab db show --json)
    <key>/<key>/raw/<original path>      raw instrument files, byte-identical (sha256 checked)
    <key>/<key>/arrays/<sha256>.parquet  analysed arrays

Each file is a ``File`` entity with ``contentSize``, ``sha256`` and ``encodingFormat``; the experiment
is a ``Dataset`` whose ``text`` summarises the aliquot series.
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


def export_eln(store: Any, ident: int | str, path: str | os.PathLike[str]) -> Path:
    """Write the experiment as an ``.eln`` archive (RO-Crate zip); returns the path."""
    from qdlab import __version__
    from qdlab.data.types import dumps_json as dumps

    data = store.experiment_dict(ident)
    key = data["key"]
    out = Path(path)
    if out.suffix != ".eln":
        raise InputError(f"an ELN archive must end in .eln, got {out.name}", field="--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    root = key
    exp_dir = f"./{key}/"
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    parts: list[dict[str, Any]] = []
    graph: list[dict[str, Any]] = []
    record_bytes = json.dumps(json.loads(dumps(data)), indent=2).encode()
    import hashlib

    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        rid = f"{exp_dir}record.json"
        zf.writestr(f"{root}/{key}/record.json", record_bytes)
        graph.append(_file_entity(rid, "record.json", len(record_bytes), hashlib.sha256(record_bytes).hexdigest(),
                                  "qdlab record of the experiment (measurements, analyses, calibrations)"))
        parts.append({"@id": rid})
        for m in data["measurements"]:
            folder_files = m.get("meta", {}).get("files")
            items = (
                [(f"{m['source_name']}/{rel}", digest) for rel, digest in folder_files.items()]
                if folder_files else [(m["source_name"], m["sha256"])]
            )
            for rel, digest in items:
                blob = store.blobs.path(digest)
                if not blob.exists():
                    continue
                fid = f"{exp_dir}raw/{rel}"
                zf.write(blob, f"{root}/{key}/raw/{rel}")
                desc = f"raw {m['kind']} file" + (f", aliquot {m['aliquot']}" if m.get("aliquot") else "") + (
                    f", role {m['role']}" if m.get("role") else "")
                graph.append(_file_entity(fid, Path(rel).name, blob.stat().st_size, digest, desc))
                parts.append({"@id": fid})
        hashes = {m["array_sha256"] for m in data["measurements"] if m.get("array_sha256")}
        hashes |= {r["array_sha256"] for r in data["results"] if r.get("array_sha256")}
        for h in sorted(hashes):
            p = store.arrays.path(h)
            if not p.exists():
                continue
            fid = f"{exp_dir}arrays/{h}.parquet"
            zf.write(p, f"{root}/{key}/arrays/{h}.parquet")
            graph.append(_file_entity(fid, f"{h}.parquet", p.stat().st_size, h, "analysed arrays (Parquet)"))
            parts.append({"@id": fid})
        dataset = {
            "@id": exp_dir, "@type": "Dataset", "name": data.get("title") or key, "identifier": key,
            "dateCreated": data["created_at"], "dateModified": data["updated_at"],
            "text": _series_html(data), "keywords": ["quantum dots", data["material"], "qdlab"],
            "hasPart": parts,
        }
        crate = {
            "@context": "https://w3id.org/ro/crate/1.1/context",
            "@graph": [
                {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"},
                 "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"}, "version": "1.0",
                 "additionalType": ELN_SPEC, "dateCreated": now, "sdPublisher": {"@id": "#qdlab"}},
                {"@id": "#qdlab", "@type": "Organization", "name": "qdlab", "description": f"qdlab {__version__}"},
                {"@id": "./", "@type": "Dataset", "name": f"qdlab export of {key}", "datePublished": now,
                 "description": f"Experiment {key} from a qdlab record: raw instrument files, analysed arrays "
                                "(Parquet) and the stored analyses (record.json).",
                 "hasPart": [{"@id": exp_dir}]},
                dataset,
                *graph,
            ],
        }
        zf.writestr(f"{root}/ro-crate-metadata.json", json.dumps(crate, indent=2))
    os.replace(tmp, out)
    return out


__all__ = ["export_json", "export_eln"]
