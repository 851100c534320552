"""Shared rich consoles: results to stdout, progress and messages to stderr."""

from __future__ import annotations

import functools

from rich.console import Console


@functools.cache
def out_console() -> Console:
    """Console for results (stdout)."""
    return Console(highlight=False)


@functools.cache
def err_console() -> Console:
    """Console for progress bars, warnings and errors (stderr)."""
    return Console(stderr=True, highlight=False)


__all__ = ["out_console", "err_console"]
