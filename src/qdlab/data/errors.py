"""The one exception hierarchy of qdlab.

Every reader, model and command raises one of these for problems the *user* can fix. The CLI maps
them to exit code 2 and a single readable line; the web app maps them to HTTP 4xx. A message names
the file, the line or field, and what was expected.
"""

from __future__ import annotations

from os import PathLike


class QdlabError(Exception):
    """Base class for all errors a user can act on."""


class InputError(QdlabError, ValueError):
    """A value given by the user is out of range, inconsistent or unknown.

    Parameters
    ----------
    message
        What is wrong and what was expected.
    field
        The name of the offending option, argument or recipe field, if any.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class FormatError(QdlabError, ValueError):
    """A file cannot be read as the format it claims (or was assumed) to be.

    Parameters
    ----------
    message
        What was found and what was expected.
    path
        The file.
    line
        1-based line number (text formats) where the problem was found, if known.
    field
        Name of the header key, column or record, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        where = []
        if self.path is not None:
            where.append(self.path if line is None else f"{self.path}:{line}")
        elif line is not None:
            where.append(f"line {line}")
        if field:
            where.append(field)
        prefix = ": ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ModelError(QdlabError, RuntimeError):
    """A model could not be evaluated or solved for the given parameters (not a code bug)."""


__all__ = ["QdlabError", "InputError", "FormatError", "ModelError"]
