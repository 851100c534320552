"""Shared fixtures for the optical-spectroscopy tests."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
