"""What keeps the dashboard the owner's: loopback by default, a token elsewhere, capped uploads, CSRF checks.

* :func:`check_bind` refuses to serve on any address but loopback without a token (``qdlab web --host
  0.0.0.0`` needs ``--token`` or ``QDLAB_WEB_TOKEN``).
* :class:`Guard` (an ASGI middleware) then requires the token on every request — ``Authorization: Bearer``,
  the ``X-Qdlab-Token`` header, or the ``qdlab_token`` cookie that ``/?token=...`` sets (HttpOnly,
  SameSite=Strict) —, refuses writes (POST/PUT/PATCH/DELETE) sent from another site (``Sec-Fetch-Site``,
  ``Origin`` or ``Referer`` not this host: a form on a foreign page cannot upload into the record), refuses
  request bodies over the upload cap before reading them (413), and adds ``nosniff``/``DENY`` headers.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from qdlab.data.errors import InputError

#: Largest request body (an uploaded zip) accepted, bytes.
MAX_UPLOAD_BYTES = 1024**3
COOKIE = "qdlab_token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback ``host`` without a token (of at least 16 characters).

    Raises
    ------
    InputError
        A one-line message saying what to do.
    """
    if token is not None and len(token) < 16:
        raise InputError("the token must be at least 16 characters (e.g. python -c \"import secrets; "
                         "print(secrets.token_urlsafe())\")", field="token")
    if not is_loopback(host) and not token:
        raise InputError(f"serving on {host} lets other machines reach the lab record; give --token (or set "
                         "QDLAB_WEB_TOKEN) and open the dashboard with ?token=... once", field="host")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


class Guard:
    """ASGI middleware: token, same-origin writes, body-size cap, defensive headers."""

    def __init__(self, app: Any, token: str | None = None, max_body_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.app, self.token, self.max_body_bytes = app, token or None, max_body_bytes

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str,
                      extra: list[tuple[bytes, bytes]] | None = None) -> None:
        api = scope["path"].startswith(("/api", "/static", "/vendor"))
        if api:
            body, ctype = json.dumps({"detail": message}).encode(), b"application/json"
        else:
            from html import escape

            body = (f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{escape(message)}</p>").encode()
            ctype = b"text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                                *(extra or [])]})
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, h: dict[str, str]) -> bool:
        assert self.token is not None
        given = [h.get("x-qdlab-token"), _cookie(h.get("cookie", ""), COOKIE)]
        auth = h.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given.append(auth[7:].strip())
        return any(g is not None and hmac.compare_digest(g.encode(), self.token.encode()) for g in given)

    @staticmethod
    def _cross_site(h: dict[str, str]) -> str | None:
        site = h.get("sec-fetch-site")
        if site in ("cross-site", "same-site"):
            return f"Sec-Fetch-Site: {site}"
        host = h.get("host", "")
        for name in ("origin", "referer"):
            value = h.get(name)
            if value:
                if value == "null" or urlsplit(value).netloc != host:
                    return f"{name.title()}: {value[:80]}"
                return None  # the first one present decides
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        h = _headers(scope)
        if self.token is not None and not self._authorised(h):
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = query.pop("token", None)
            if given is not None and scope["method"] == "GET" and hmac.compare_digest(given.encode(),
                                                                                      self.token.encode()):
                rest = urlencode(query)
                where = scope["path"] + (f"?{rest}" if rest else "")
                cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                await send({"type": "http.response.start", "status": 303,
                            "headers": [(b"location", where.encode("latin-1")),
                                        (b"set-cookie", cookie.encode("latin-1")), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            await self._refuse(scope, send, 401, "this dashboard needs its token: open it once with ?token=... "
                               "or send Authorization: Bearer <token>", [(b"www-authenticate", b"Bearer")])
            return
        if scope["method"] in _UNSAFE:
            why = self._cross_site(h)
            if why:
                await self._refuse(scope, send, 403, f"refused a write sent from another site ({why})")
                return
            length = h.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await self._refuse(scope, send, 413, f"request body over {self.max_body_bytes // 1024**2} MB; "
                                   "upload a smaller zip (raw data only) or use qdlab run")
                return
            receive = self._capped(receive, scope, send)

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-content-type-options", b"nosniff"),
                                      (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _capped(self, receive: Receive, scope: Scope, send: Send) -> Receive:
        """A body without Content-Length (chunked) is counted as it arrives and cut off over the cap."""
        seen = 0

        async def wrapped() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _TooLarge
            return message

        return wrapped


class _TooLarge(InputError):
    def __init__(self) -> None:
        super().__init__(f"request body over {MAX_UPLOAD_BYTES // 1024**2} MB", field="file")


__all__ = ["Guard", "check_bind", "is_loopback", "MAX_UPLOAD_BYTES", "COOKIE"]
