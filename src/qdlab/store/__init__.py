"""The experiment record: SQLAlchemy models, Alembic migrations, Parquet arrays, exports.

>>> from qdlab.store import Store
>>> import tempfile, pathlib
>>> Store(pathlib.Path(tempfile.mkdtemp()) / "lab.sqlite").counts()["experiments"]
0
"""

from qdlab.store.arrays import ArrayStore
from qdlab.store.engine import default_database_url, normalize_url
from qdlab.store.record import (
    AliquotRecord,
    BlobStore,
    CalibrationRecord,
    ExperimentRecord,
    MeasurementRecord,
    RecipeRecord,
    ResultRecord,
    SaveOutcome,
    Store,
    tree_digest,
)

__all__ = [
    "ArrayStore",
    "BlobStore",
    "Store",
    "ExperimentRecord",
    "AliquotRecord",
    "MeasurementRecord",
    "ResultRecord",
    "CalibrationRecord",
    "RecipeRecord",
    "SaveOutcome",
    "default_database_url",
    "normalize_url",
    "tree_digest",
]
