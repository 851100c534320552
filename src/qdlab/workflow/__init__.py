"""Workflow layer: manifest -> ingest -> analyse -> calibrate -> store -> report (``qdlab run``)."""

from qdlab.workflow.manifest import Manifest, load_manifest, parse_manifest, write_template
from qdlab.workflow.pipeline import RunError, RunResult, run_experiment

__all__ = ["Manifest", "load_manifest", "parse_manifest", "write_template", "run_experiment", "RunResult", "RunError"]
