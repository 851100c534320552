"""Shared pytest configuration: non-interactive matplotlib, deterministic hypothesis profile."""

import os

import matplotlib
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")
os.environ.setdefault("QDLAB_WORKERS", "2")

settings.register_profile(
    "qdlab", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("qdlab")
