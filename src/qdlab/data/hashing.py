"""File provenance helpers."""

from __future__ import annotations

import hashlib
from os import PathLike
from pathlib import Path


def file_sha256(path: str | PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


__all__ = ["file_sha256"]
