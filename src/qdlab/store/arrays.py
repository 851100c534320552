"""Content-addressed Parquet storage for the record's bulk arrays.

A table of named 1-D columns (a spectrum, a mass spectrum, a particle list, a fitted curve) is written
as one Parquet file named by the sha256 of its bytes: ``<root>/<h[:2]>/<h>.parquet``. The same data
always lands in the same file, so writing twice is free and files written by an interrupted run are
simply reused by the re-run. Files are written to a temporary name and renamed into place (atomic on
POSIX), so a reader never sees half a file. Query them with pandas, pyarrow or DuckDB
(``read_parquet('<root>/*/*.parquet')``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from qdlab.data.errors import FormatError, InputError


def table_bytes(columns: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """Serialise named 1-D columns (equal lengths) to deterministic Parquet bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not columns:
        raise InputError("an array table needs at least one column")
    arrays = {str(k): np.asarray(v) for k, v in columns.items()}
    lengths = {k: a.shape for k, a in arrays.items()}
    if any(a.ndim != 1 for a in arrays.values()) or len({a.size for a in arrays.values()}) != 1:
        raise InputError(f"array columns must be 1-D and of equal length, got {lengths}")
    table = pa.table(arrays)
    if metadata:
        table = table.replace_schema_metadata({str(k): str(v) for k, v in metadata.items()})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=False, store_schema=True)
    return buf.getvalue()


class ArrayStore:
    """A directory of content-addressed Parquet tables.

    Parameters
    ----------
    root
        Directory (created on first write).
    fetch
        Where to get a table missing from ``root`` (``sha256 -> bytes or None``), e.g. the shared store
        of a server database; fetched tables are kept in ``root``.

    Examples
    --------
    >>> import tempfile
    >>> store = ArrayStore(tempfile.mkdtemp())
    >>> h = store.put({"wavelength_nm": [900.0, 901.0], "intensity": [0.5, 1.0]})
    >>> h == store.put({"wavelength_nm": [900.0, 901.0], "intensity": [0.5, 1.0]})
    True
    >>> store.get(h)["intensity"].tolist()
    [0.5, 1.0]
    """

    def __init__(self, root: str | os.PathLike[str], fetch: Callable[[str], bytes | None] | None = None) -> None:
        self.root = Path(root)
        self._fetch = fetch

    def ensure(self, sha256: str) -> Path | None:
        """The local file of table ``sha256``, fetched first if needed; ``None`` if it is nowhere."""
        p = self.path(sha256)
        if p.exists():
            return p
        data = self._fetch(sha256) if self._fetch is not None else None
        if data is None:
            return None
        self.put_bytes(data, sha256)
        return p

    def path(self, sha256: str) -> Path:
        """Where the table with hash ``sha256`` lives."""
        return self.root / sha256[:2] / f"{sha256}.parquet"

    def put(self, columns: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> str:
        """Store a table; returns its sha256 (the same for the same content)."""
        data = table_bytes(columns, metadata)
        return self.put_bytes(data, hashlib.sha256(data).hexdigest())

    def put_bytes(self, data: bytes, sha256: str) -> str:
        """Store a Parquet file's bytes under their hash (an imported archive); refuses a mismatch."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise FormatError(f"array file does not match its sha256 {sha256}")
        target = self.path(sha256)
        if target.exists() and target.stat().st_size == len(data):
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return sha256

    def get(self, sha256: str) -> dict[str, np.ndarray]:
        """Read a table back as a dict of numpy arrays (verifying its hash)."""
        import pyarrow.parquet as pq

        p = self.ensure(sha256) or self.path(sha256)
        if not p.exists():
            raise FormatError("array file missing from the record's array store", path=p)
        data = p.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise FormatError("array file does not match its content hash (corrupted?)", path=p)
        table = pq.read_table(io.BytesIO(data))
        return {name: table.column(name).to_numpy() for name in table.column_names}

    def exists(self, sha256: str) -> bool:
        """True if the table is present (here, or fetchable)."""
        return self.ensure(sha256) is not None


__all__ = ["ArrayStore", "table_bytes"]
