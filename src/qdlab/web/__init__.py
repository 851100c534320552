"""The qdlab web dashboard (FastAPI): experiments in the record, sizing calculator, twin runs.

Start it with ``qdlab web [--db URL] [--port 8000]``; the JSON API lives under ``/api``.
"""

from qdlab.web.app import create_app

__all__ = ["create_app"]
