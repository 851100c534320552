"""JavaScript and CSS the dashboard serves itself, from registry packages: nothing is fetched from a CDN.

* ``plotly.min.js`` from the ``plotly`` wheel (``plotly/package_data``): interactive spectra;
* Swagger UI 5 (reads FastAPI's OpenAPI 3.1) from the ``fastapi-offline`` wheel: the API docs at ``/docs``;
* the app's own ``static/`` folder (CSS and small scripts).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from qdlab.data.errors import InputError


def _plotly_dir() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data"


def _swagger_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


#: URL name -> (package folder, file name, MIME type)
VENDOR: dict[str, tuple[str, str, str]] = {
    "plotly.min.js": ("plotly", "plotly.min.js", "text/javascript"),
    "swagger-ui-bundle.js": ("swagger", "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger", "swagger-ui.css", "text/css"),
    "swagger-favicon.png": ("swagger", "favicon.png", "image/png"),
}


def vendor_file(name: str) -> tuple[Path, str]:
    """The file behind ``/vendor/<name>`` and its MIME type; an unknown name is an :class:`InputError`."""
    if name not in VENDOR:
        raise InputError(f"no such asset {name!r}", field="name")
    where, file, mime = VENDOR[name]
    folder = _plotly_dir() if where == "plotly" else _swagger_dir()
    path = folder / file
    if not path.is_file():
        raise InputError(f"the {where} package is installed without {file}; reinstall it", field="name")
    return path, mime


def static_dir() -> str:
    """The app's own static folder."""
    return str(resources.files("qdlab.web") / "static")


__all__ = ["VENDOR", "vendor_file", "static_dir"]
