"""Workflow layer: manifest -> ingest -> analyse -> calibrate -> report."""
