"""SQLAlchemy 2 models of the experiment record.

One experiment owns its recipe, aliquots, measurements (raw files: name, size, sha256), analysis
results (with the qdlab version and parameters that made them) and twin calibrations. Every child
row is deleted with its experiment (``ON DELETE CASCADE``), so an experiment is written and replaced
as one unit inside one transaction. Bulk arrays are not stored here: rows carry the sha256 of a
Parquet file in the content-addressed array store (:mod:`qdlab.store.arrays`).

The schema is created and upgraded by the Alembic migrations shipped in
``qdlab/store/migrations``; :data:`Base.metadata` must match the latest revision.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> _dt.datetime:
    """Timezone-aware current UTC time (stored as naive UTC for portability)."""
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of the record's tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Experiment(Base):
    """One overgrowth (or any synthesis) with everything measured on it.

    ``key`` is the manifest's experiment id: re-running a folder finds the same row. ``fingerprint``
    is the sha256 over the manifest, every raw file's sha256, the qdlab version and the analysis
    settings; an unchanged fingerprint means the stored record is already complete and current.
    """

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    material: Mapped[str] = mapped_column(String(50))
    seed_batch: Mapped[str | None] = mapped_column(String(200), nullable=True)
    folder: Mapped[str] = mapped_column(Text, default="")
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    qdlab_version: Mapped[str] = mapped_column(String(50))
    synthetic: Mapped[bool] = mapped_column(default=False)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    recipe: Mapped[Recipe | None] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", uselist=False, passive_deletes=True
    )
    aliquots: Mapped[list[Aliquot]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="Aliquot.position", passive_deletes=True
    )
    measurements: Mapped[list[Measurement]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="Measurement.id", passive_deletes=True
    )
    results: Mapped[list[AnalysisResult]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="AnalysisResult.id", passive_deletes=True
    )
    calibrations: Mapped[list[TwinCalibration]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="TwinCalibration.id", passive_deletes=True
    )
    versions: Mapped[list[ExperimentVersion]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="ExperimentVersion.version",
        passive_deletes=True
    )
    tags: Mapped[list[ExperimentTag]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="ExperimentTag.tag", passive_deletes=True
    )


class Recipe(Base):
    """The synthesis recipe file of an experiment, kept verbatim with its hash."""

    __tablename__ = "recipes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), unique=True)
    source_name: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    experiment: Mapped[Experiment] = relationship(back_populates="recipe")


class Aliquot(Base):
    """A sample withdrawn during the injection, at ``time_min`` after its start."""

    __tablename__ = "aliquots"
    __table_args__ = (UniqueConstraint("experiment_id", "label", name="uq_aliquot_label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer)
    time_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    volume_ml: Mapped[float | None] = mapped_column(Float, nullable=True)

    experiment: Mapped[Experiment] = relationship(back_populates="aliquots")
    measurements: Mapped[list[Measurement]] = relationship(back_populates="aliquot")


class Measurement(Base):
    """One raw instrument file (or folder, e.g. a Bruker flex acquisition) of an experiment.

    ``kind`` is ``pl``, ``absorbance``, ``plqy``, ``ms``, ``tem`` or ``xrd``; ``role`` says what the
    sample was (``clusters``, ``before``, ``after``, ``sample``, ``blank``...). ``sha256`` and
    ``size_bytes`` are those of the file (for a folder: of its sorted file list and contents).
    """

    __tablename__ = "measurements"
    __table_args__ = (UniqueConstraint("experiment_id", "kind", "source_name", name="uq_measurement_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    aliquot_id: Mapped[int | None] = mapped_column(ForeignKey("aliquots.id", ondelete="CASCADE"), nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    role: Mapped[str | None] = mapped_column(String(50), nullable=True)
    source_name: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    array_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    experiment: Mapped[Experiment] = relationship(back_populates="measurements")
    aliquot: Mapped[Aliquot | None] = relationship(back_populates="measurements")
    results: Mapped[list[AnalysisResult]] = relationship(back_populates="measurement")


class AnalysisResult(Base):
    """What one analysis made of one measurement (or of the whole series).

    ``status`` is ``ok`` or ``error`` (the file was refused or the analysis does not apply; message
    in ``error``; stored by ``qdlab run --keep-going``); older records may say ``unavailable``. ``result`` is the domain result's ``to_dict()`` without bulk
    arrays; those are in the Parquet file ``array_sha256``.
    """

    __tablename__ = "analysis_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    measurement_id: Mapped[int | None] = mapped_column(ForeignKey("measurements.id", ondelete="CASCADE"), nullable=True)
    analysis: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    qdlab_version: Mapped[str] = mapped_column(String(50))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    array_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)

    experiment: Mapped[Experiment] = relationship(back_populates="results")
    measurement: Mapped[Measurement | None] = relationship(back_populates="results")


class TwinCalibration(Base):
    """A fit of digital-twin parameters to an experiment's measured PL series.

    ``parameters`` maps each fitted name to ``{"value", "stderr", "unit"}``.
    """

    __tablename__ = "twin_calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    scenario: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    qdlab_version: Mapped[str] = mapped_column(String(50))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)

    experiment: Mapped[Experiment] = relationship(back_populates="calibrations")


class ExperimentVersion(Base):
    """An earlier version of an experiment, kept when a re-run replaced it.

    ``snapshot`` is the experiment as :meth:`qdlab.store.Store.experiment_dict` gave it then (its raw
    files and arrays stay in the content-addressed stores); ``changes`` says what differs in the next
    version (files, manifest, qdlab version, aliquot results, calibration).
    """

    __tablename__ = "experiment_versions"
    __table_args__ = (UniqueConstraint("experiment_id", "version", name="uq_experiment_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    qdlab_version: Mapped[str] = mapped_column(String(50))
    saved_at: Mapped[_dt.datetime] = mapped_column(DateTime)
    replaced_at: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    experiment: Mapped[Experiment] = relationship(back_populates="versions")


class ExperimentTag(Base):
    """A chemist's free-text tag on an experiment (``good``, ``TEM-pending``...).

    Tags are annotations, not part of what was measured: they are not in the fingerprint, a re-run of the
    folder keeps them, and they are added and removed one by one (:meth:`qdlab.store.Store.set_tags`).
    """

    __tablename__ = "experiment_tags"
    __table_args__ = (UniqueConstraint("experiment_id", "tag", name="uq_experiment_tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)

    experiment: Mapped[Experiment] = relationship(back_populates="tags")


class FileBlob(Base):
    """A raw file (``kind="raw"``) or Parquet table (``kind="array"``) by sha256, in a server database.

    Every client of a PostgreSQL record writes the files it stores here once, so a colleague on another
    machine reads the same bytes (its local file store is only a cache). Unused on SQLite.
    """

    __tablename__ = "file_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class SchemaVersion(Base):
    """Which qdlab version brought the record to a schema revision (read when a newer one is refused)."""

    __tablename__ = "qdlab_schema"

    revision: Mapped[str] = mapped_column(String(64), primary_key=True)
    qdlab_version: Mapped[str] = mapped_column(String(50))
    applied_at: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


__all__ = ["Base", "SchemaVersion", "ExperimentVersion", "ExperimentTag", "FileBlob", "Experiment", "Recipe", "Aliquot", "Measurement", "AnalysisResult", "TwinCalibration", "utcnow"]
