"""Who may use the Web UI: the token from the printed URL, a session cookie, Host/Origin checks and a CSRF token.

The UI spends the wallet like ``zerog proxy`` does, and a browser is a more exposed client than an SDK: any page
it opens can send requests to ``127.0.0.1``. So:

* the first visit carries the token in the URL (``/?token=...``, printed once by ``zerog ui``); the server answers
  with a session cookie (``HttpOnly``, ``SameSite=Strict``, named after the port) and a redirect that drops the
  token from the address bar; later requests need the cookie;
* ``Host`` must name the bound address (DNS rebinding), as in the proxy (421 otherwise);
* a ``POST`` must come from the UI's own origin (``Origin``, else ``Sec-Fetch-Site: same-origin``) and carry the
  CSRF token the pages embed (403 otherwise): ``SameSite`` alone does not help, since every port of ``127.0.0.1``
  is the same *site*;
* bodies are form-encoded or JSON, at most :data:`MAX_BODY` bytes (413 / 415).

Pure checks and an ASGI middleware; the pages live in :mod:`zerog_compute.webui.app`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .._asgi import Disconnected, read_body, replay
from ..errors import ConfigurationError
from ..proxy import ProxyAccess

MAX_BODY = 64 * 1024
"""The largest request body the UI reads (bytes): its forms and chat messages are small."""
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CSRF_HEADER = "x-zerog-csrf"
CSRF_FIELD = "csrf"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Denied(Exception):
    """A request the UI refuses before any page runs."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UIAccess:
    """The UI's secrets and the addresses it answers to."""

    token: str = field(repr=False)
    hosts: ProxyAccess
    port: int
    max_body: int = MAX_BODY

    @classmethod
    def of(
        cls,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int,
        allowed_hosts: Iterable[str] = (),
        max_body: int = MAX_BODY,
    ) -> UIAccess:
        if len(token) < 16:
            raise ConfigurationError("the UI's token must be at least 16 characters long")
        return cls(token, ProxyAccess.of(token, host=host, port=port, allowed_hosts=allowed_hosts), port, max_body)

    @property
    def cookie_name(self) -> str:
        """Cookies are shared by every port of a host: the name keeps two UIs (or a UI and a proxy) apart."""
        return f"zerog_ui_{self.port}"

    def _derive(self, purpose: str) -> str:
        return hmac.new(self.token.encode(), purpose.encode(), hashlib.sha256).hexdigest()

    @property
    def session(self) -> str:
        """The cookie's value: derived from the token, so the token itself never sits in the cookie jar."""
        return self._derive("session")

    @property
    def csrf(self) -> str:
        """The token every POST carries (a form field or the ``X-ZeroG-CSRF`` header)."""
        return self._derive("csrf")

    def token_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def session_matches(self, cookie_header: str | None) -> bool:
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(cookie_header or "")
        except Exception:  # a malformed Cookie header is no session
            return False
        morsel = cookies.get(self.cookie_name)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self.session.encode())

    def csrf_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())

    def own_origin(self, origin: str) -> bool:
        """An ``Origin`` header naming this UI (a loopback name or the bound host, on its port)."""
        scheme, sep, rest = origin.strip().lower().partition("://")
        return scheme == "http" and bool(sep) and "/" not in rest and self.hosts.host_allowed(rest)

    def check_site(self, headers: Mapping[str, str], method: str) -> None:
        """Host always; for anything but GET/HEAD, the request must come from the UI's own pages."""
        if not self.hosts.host_allowed(headers.get("host", "")):
            raise Denied(421, "this UI answers only to its own address (Host header refused)")
        if method in ("GET", "HEAD"):
            return
        origin = headers.get("origin")
        same_origin = self.own_origin(origin) if origin is not None else headers.get("sec-fetch-site") == "same-origin"
        if not same_origin:
            raise Denied(403, "requests from other web pages are refused")

    def check_body(self, headers: Mapping[str, str]) -> str:
        """The media type of a POST (form or JSON) with a declared size within the limit."""
        media = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media not in (FORM, JSON):
            raise Denied(415, f"send a form or JSON, not {media or 'no content type'!r}")
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            raise Denied(413, f"the request body is larger than the UI's limit of {self.max_body} bytes")
        return media


def parse_form(body: bytes, *, max_fields: int = 64) -> dict[str, list[str]]:
    """An urlencoded body (already bounded in size) as ``{name: [values]}``; malformed input: :class:`Denied` (400)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        raise Denied(400, "the form is malformed") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def without_token(path: str, query: str) -> str:
    """The address to redirect to once the token became a cookie: the same page, the token removed."""
    rest = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"]
    local = "/" + path.lstrip("/\\")  # never "//host/...": a redirect stays on this UI
    return local + ("?" + urlencode(rest) if rest else "")


class UIGuard:
    """ASGI middleware: Host, the session (or the token, which becomes one), Origin and bodies, before any page."""

    def __init__(self, app: ASGIApp, access: UIAccess) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers

        headers = Headers(scope=scope)
        method = scope["method"]
        send = _secured(send)
        try:
            self.access.check_site(headers, method)
            query = scope.get("query_string", b"").decode("latin-1")
            token = dict(parse_qsl(query)).get("token")
            if method == "GET" and token is not None:
                await self._login(token, scope["path"], query)(scope, receive, send)
                return
            if not self.access.session_matches(headers.get("cookie")):
                raise Denied(401, "open the address zerog ui printed (with ?token=...) to sign in")
            if method in ("GET", "HEAD"):
                await self.app(scope, receive, send)
                return
            self.access.check_body(headers)
            body = await read_body(receive, self.access.max_body, _too_large)
        except Denied as denied:
            await _denied(denied)(scope, receive, send)
            return
        except Disconnected:
            return
        await self.app(scope, replay(body, receive), send)

    def _login(self, token: str, path: str, query: str) -> ASGIApp:
        from starlette.responses import RedirectResponse

        if not self.access.token_matches(token):
            return _denied(Denied(401, "that token is not this UI's: open the address zerog ui printed last"))
        response = RedirectResponse(without_token(path, query), status_code=303)
        response.set_cookie(
            self.access.cookie_name, self.access.session, httponly=True, samesite="strict", path="/", secure=False
        )
        return response


def _too_large(limit: int) -> Denied:
    return Denied(413, f"the request body is larger than the UI's limit of {limit} bytes")


SECURITY_HEADERS = {
    # no inline script or style, nothing from elsewhere: an injected string cannot run
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",  # no framing: a page cannot overlay the confirmation button (clickjacking)
    "Referrer-Policy": "same-origin",  # the first address carries the token: never sent elsewhere
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _secured(send: Send) -> Send:
    """Add :data:`SECURITY_HEADERS` to every answer."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            from starlette.datastructures import MutableHeaders

            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers[name] = value
        await send(message)

    return secured


def _denied(denied: Denied) -> ASGIApp:
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(f"zerog ui: {denied}\n", status_code=denied.status)
