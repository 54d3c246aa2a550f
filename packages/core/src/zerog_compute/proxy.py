"""``zerog proxy``: a local OpenAI-compatible server that forwards to 0G Direct providers.

Any OpenAI client (curl, the ``openai`` SDK, ChatOpenAI, LlamaIndex's OpenAI) pointed at
``http://127.0.0.1:PORT/v1`` with the proxy's bearer token as its API key gets 0G inference with a wallet:
session tokens, failover across the providers of the model, the auto-funding policy and verification all
run here. Non-streamed answers carry ``X-ZeroG-Provider``, ``X-ZeroG-Chat-Id``, ``X-ZeroG-Fee`` (neuron) and
``X-ZeroG-Verification`` headers; streams pass through chunk by chunk and end with an SSE comment
``: zerog {...}`` holding the same record (OpenAI clients ignore comments).

The proxy spends the wallet, so only its owner may use it: a bearer token, a ``Host`` check against
the bound address (DNS rebinding), no cross-origin requests unless allowed (web pages), JSON bodies only,
bounded in size and depth, and only the configured models (no funds move to other providers).

Needs the ``proxy`` extra (Starlette + uvicorn): ``pip install 'zerog-compute[proxy]'``.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._asgi import Disconnected, read_body, replay
from .client import AsyncZeroG
from .errors import (
    ConfigurationError,
    InsufficientBalanceError,
    InvalidTokenError,
    NotAcknowledgedError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ServiceNotFoundError,
    VerificationError,
    ZeroGError,
)
from .types import ZeroGRecord
from .untrusted_json import parse_json

if TYPE_CHECKING:
    from ._aresources import AsyncProviderPool

log = logging.getLogger(__name__)

VERDICT_WAIT_S = 10.0
DEFAULT_MAX_BODY = 8 * 1024 * 1024
"""The largest request body the proxy reads (bytes); larger ones get 413 before they are read."""
DEFAULT_TOKEN_FILE = Path("~") / ".zerog" / "proxy-token"
"""Where ``zerog proxy`` writes its bearer token (mode 0600) unless ``--token-file`` says otherwise."""
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_STATUS = (
    (RequestRejectedError, 400, "invalid_request_error"),
    (ConfigurationError, 400, "invalid_request_error"),
    (InvalidTokenError, 401, "authentication_error"),
    (InsufficientBalanceError, 402, "insufficient_balance"),
    (NotAcknowledgedError, 403, "permission_error"),
    (ServiceNotFoundError, 404, "not_found_error"),
    (RateLimitedError, 429, "rate_limit_error"),
    (VerificationError, 502, "verification_error"),
    (ProviderUnavailableError, 503, "provider_unavailable"),
)
_EXPOSED = "X-ZeroG-Provider, X-ZeroG-Model, X-ZeroG-Chat-Id, X-ZeroG-Fee, X-ZeroG-Verification"
_DEFAULT_MODEL = (None, "", "default")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_payload(error: BaseException) -> tuple[int, dict[str, Any]]:
    """OpenAI-style error body and status for a zerog error."""
    for kind, status, code in _STATUS:
        if isinstance(error, kind):
            return status, {"error": {"message": str(error), "type": code, "code": code}}
    if isinstance(error, ZeroGError):
        return 500, {"error": {"message": str(error), "type": "server_error", "code": "zerog_error"}}
    return 500, {"error": {"message": "internal error in the zerog proxy", "type": "server_error", "code": "internal"}}


class Refused(Exception):
    """A request the proxy refuses itself, before any provider sees it (OpenAI error shape)."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.code = code or kind

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "code": self.code}}


# ---------------------------------------------------------------------------------------------------- the token


def new_token() -> str:
    """A fresh random bearer token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def write_token_file(token: str, path: str | os.PathLike[str] = DEFAULT_TOKEN_FILE) -> Path:
    """Write ``token`` to ``path`` (``~`` expanded), readable by its owner only (0600); returns the path.

    The file is replaced atomically; a missing directory is created with mode 0700.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


# ---------------------------------------------------------------------------------------------------- request bodies


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object: bounded in depth, no NaN/Infinity (nor 1e400); else :class:`Refused` (400)."""
    try:
        value = parse_json(raw)
    except ValueError as exc:  # UntrustedJSONError, UnicodeDecodeError
        raise Refused(400, f"the body is refused: {exc}") from None
    if not isinstance(value, dict):
        raise Refused(400, f"the body must be a JSON object, got a JSON {type(value).__name__}")
    if not _finite(value):
        raise Refused(400, "the body holds NaN or Infinity, which are not JSON numbers")
    if "provider" in value:  # would be the client's provider= argument: the proxy's pools choose
        raise Refused(400, "'provider' is not a request field here: the proxy chooses among its own providers")
    return value


def _finite(value: Any) -> bool:
    """No NaN or infinite float anywhere in ``value`` (iterative: depth is bounded by the parser anyway)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def dumps(value: Any) -> bytes:
    """Compact JSON bytes; NaN/Infinity raise ``ValueError`` (they are not JSON)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


# ---------------------------------------------------------------------------------------------------- records


async def record_headers(record: ZeroGRecord | None) -> dict[str, str]:
    """The ``X-ZeroG-*`` headers of one answer (waits briefly for a background verdict)."""
    if record is None:
        return {}
    headers = {"X-ZeroG-Provider": record.provider, "X-ZeroG-Fee": str(record.fee), "X-ZeroG-Model": record.model}
    if record.chat_id:
        headers["X-ZeroG-Chat-Id"] = record.chat_id
    headers["X-ZeroG-Verification"] = await _verdict(record)
    return headers


async def _verdict(record: ZeroGRecord) -> str:
    try:
        result = await record.averdict()
    except Exception as exc:  # a verdict that cannot be had is reported, not raised
        return f"unavailable ({type(exc).__name__})"
    return str(result.verdict.value) if result is not None else "pending"


def record_comment(record: ZeroGRecord | None, verdict: str) -> bytes:
    """The closing ``: zerog {...}`` SSE comment of a streamed answer."""
    if record is None:
        return b""
    data = {"provider": record.provider, "chat_id": record.chat_id, "fee": str(record.fee), "verification": verdict}
    return b": zerog " + dumps(data) + b"\n\n"


# ---------------------------------------------------------------------------------------------------- access


@dataclass(frozen=True)
class ProxyAccess:
    """Who may use the proxy: see :func:`build_app` for the fields."""

    token: str | None = field(repr=False)
    hosts: frozenset[str]
    port: int | None
    origins: frozenset[str]
    max_body: int

    @classmethod
    def of(
        cls,
        token: str | None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        allowed_hosts: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
        max_body: int = DEFAULT_MAX_BODY,
    ) -> ProxyAccess:
        if token is not None and len(token) < 16:
            raise ConfigurationError("the proxy's token must be at least 16 characters long")
        if max_body < 1:
            raise ConfigurationError(f"max_body must be a positive number of bytes, got {max_body}")
        hosts = frozenset(_bracketed(name.strip().lower()) for name in (*LOOPBACK_HOSTS, host, *allowed_hosts))
        return cls(token, hosts, port, frozenset(origin_of(o) for o in cors_origins), max_body)

    def host_allowed(self, value: str) -> bool:
        """Is ``value`` (a ``Host`` header) one of the names this proxy answers to, on its port?"""
        name, port = _split_host(value.strip().lower())
        if name not in self.hosts or (port and not port.isdigit()):
            return False
        return self.port is None or port == str(self.port) or (not port and self.port == 80)

    def token_matches(self, authorization: str | None) -> bool:
        """Does an ``Authorization`` header carry this proxy's bearer token (constant-time comparison)?"""
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())


def origin_of(text: str) -> str:
    """A web origin as browsers send it (``scheme://host[:port]``, lower case); else ``ConfigurationError``."""
    origin = text.strip().lower().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or any(c in rest for c in "/?#*@ "):
        raise ConfigurationError(
            f"{text!r} is not a web origin such as https://app.example.com or http://localhost:3000"
        )
    return origin


def _bracketed(name: str) -> str:
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def _split_host(value: str) -> tuple[str, str]:
    """``("name", "port")`` of a ``Host`` value; IPv6 names keep their brackets."""
    if value.startswith("["):
        name, _, rest = value.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else ("" if not rest else "x")
    name, _, port = value.partition(":")
    return name, port


class AccessGuard:
    """ASGI middleware: Host, Origin (CORS), bearer token, content type and body size, before the app runs."""

    def __init__(self, app: ASGIApp, access: ProxyAccess) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers

        headers = Headers(scope=scope)
        origin = headers.get("origin")
        try:
            self._check_site(headers, origin)
            if origin is not None:
                send = _with_cors(send, origin)
                if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
                    await _preflight(headers)(scope, receive, send)
                    return
            self._check_request(scope["method"], headers)
            if scope["method"] in ("GET", "HEAD", "OPTIONS"):
                await self.app(scope, receive, send)
                return
            body = await read_body(receive, self.access.max_body, _too_large)
        except Refused as refusal:
            await _refusal_response(refusal)(scope, receive, send)
            return
        except Disconnected:
            return
        await self.app(scope, replay(body, receive), send)

    def _check_site(self, headers: Mapping[str, str], origin: str | None) -> None:
        """DNS rebinding (a foreign ``Host``) and web pages (an ``Origin`` not allowed) are refused."""
        if not self.access.host_allowed(headers.get("host", "")):
            raise Refused(421, "this proxy answers only to its own address (Host header refused)", kind="misdirected")
        cross_site = headers.get("sec-fetch-site", "") in ("cross-site", "same-site")
        if (origin is not None or cross_site) and (origin or "").lower().rstrip("/") not in self.access.origins:
            raise Refused(
                403,
                "cross-origin requests are refused: start the proxy with --cors-origin ORIGIN to allow a web app",
                kind="permission_error",
                code="origin_not_allowed",
            )

    def _check_request(self, method: str, headers: Mapping[str, str]) -> None:
        """The bearer token; for POST, a JSON content type and a declared size within the limit."""
        if not self.access.token_matches(headers.get("authorization")):
            raise Refused(
                401,
                "send this proxy's token as 'Authorization: Bearer <token>' (the api_key of OpenAI clients); "
                "it was printed when the proxy started and written to its token file",
                kind="authentication_error",
                code="invalid_api_key",
            )
        if method != "POST":
            return
        media = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            raise Refused(415, f"send JSON with 'Content-Type: application/json', not {media or 'no content type'!r}")
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.access.max_body):
            raise _too_large(self.access.max_body)


def _too_large(limit: int) -> Refused:
    return Refused(413, f"the request body is larger than this proxy's limit of {limit} bytes (--max-body)")


def _with_cors(send: Send, origin: str) -> Send:
    """Add the CORS headers an allowed origin needs to read the answer."""

    async def cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            from starlette.datastructures import MutableHeaders

            headers = MutableHeaders(scope=message)
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = _EXPOSED
            headers.add_vary_header("Origin")
        await send(message)

    return cors


def _preflight(headers: Mapping[str, str]) -> ASGIApp:
    """The answer to an allowed origin's CORS preflight (``OPTIONS``)."""
    from starlette.responses import Response

    requested = headers.get("access-control-request-headers", "")
    allowed = ", ".join(h.strip() for h in requested.split(",") if h.strip().replace("-", "").isalnum())
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": allowed or "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
        },
    )


def _refusal_response(refusal: Refused) -> ASGIApp:
    from starlette.responses import JSONResponse

    headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None
    return JSONResponse(refusal.payload(), status_code=refusal.status, headers=headers)


# ---------------------------------------------------------------------------------------------------- models and pools


class ModelGate:
    """The models a proxy serves and the pool each request goes to; other models are refused (400).

    ``models``: the configured model ids (the first is ``"default"``); with none, the models of
    ``providers`` (looked up once). ``allow_any_model`` lets any id through, as sent.
    """

    def __init__(
        self, zg: AsyncZeroG, models: Sequence[str], providers: Sequence[str] | None, *, allow_any_model: bool
    ) -> None:
        self.zg = zg
        self.models = tuple(models)
        self.providers = list(providers) if providers else None
        self.allow_any_model = allow_any_model
        self._pools: dict[tuple[str, str | None], AsyncProviderPool] = {}
        self._provider_models: list[str] | None = None

    async def allowed(self) -> list[str]:
        """The model ids this proxy serves (besides ``"default"``)."""
        if self.models:
            return list(self.models)
        if self._provider_models is None:
            services = await self.zg.services.list()
            chosen = self.providers or []
            self._provider_models = sorted({s.model for s in services if s.provider in chosen})
        return self._provider_models

    async def pick(self, requested: Any, service_type: str) -> tuple[AsyncProviderPool, str | None]:
        """The pool for a request's ``model`` and the model id to send (``None``: the pool's own)."""
        if requested is not None and not isinstance(requested, str):
            raise Refused(400, "'model' must be a string")
        default = self.models[0] if self.models else None
        if requested in _DEFAULT_MODEL or requested in self.models:
            return self._pool(service_type, requested if requested in self.models else default), None
        if requested in await self.allowed():
            return self._pool(service_type, None), requested
        if not self.allow_any_model:
            names = ", ".join(repr(m) for m in ["default", *await self.allowed()])
            raise Refused(
                400, f"model {requested!r} is not served by this proxy; use one of {names}", code="model_not_found"
            )
        if service_type == "chatbot":
            return self._pool(service_type, default), requested
        return self.zg.pool(model=requested, providers=self.providers, service_type=service_type), None

    def _pool(self, service_type: str, model: str | None) -> AsyncProviderPool:
        key = (service_type, model)
        if key not in self._pools:
            self._pools[key] = self.zg.pool(model=model, providers=self.providers, service_type=service_type)
        return self._pools[key]


# ---------------------------------------------------------------------------------------------------- the app


def build_app(
    zg: AsyncZeroG,
    *,
    model: str | Sequence[str] | None = None,
    providers: Sequence[str] | None = None,
    token: str | None,
    host: str = "127.0.0.1",
    port: int | None = None,
    allowed_hosts: Iterable[str] = (),
    cors_origins: Iterable[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    allow_any_model: bool = False,
) -> Any:
    """The proxy as an ASGI app (Starlette behind :class:`AccessGuard`).

    ``model`` (one id or several; the first is ``"default"``) and ``providers`` define the pools behind it;
    only those models are served unless ``allow_any_model``. ``token``: the bearer token every request must
    carry (``None``: none, anyone who reaches the port spends the wallet). ``host``/``port``: the address
    the proxy is bound to; ``Host`` headers must name it (or a loopback name, or one of ``allowed_hosts``),
    with ``port`` when given. ``cors_origins``: web origins allowed to call it (others get 403).
    ``max_body``: the largest request body in bytes (413 beyond).
    """
    try:
        from starlette.applications import Starlette
        from starlette.routing import Route
    except ImportError:  # pragma: no cover - depends on the installed extra
        raise ConfigurationError("the proxy needs its extra: pip install 'zerog-compute[proxy]'") from None
    models = [model] if isinstance(model, str) else list(model or ())
    if not models and not providers:
        raise ConfigurationError("the proxy needs a model=... or providers=[...] to serve")
    access = ProxyAccess.of(
        token, host=host, port=port, allowed_hosts=allowed_hosts, cors_origins=cors_origins, max_body=max_body
    )
    if token is None:
        log.warning("the zerog proxy runs WITHOUT a token: anyone who can reach it spends this wallet")
    routes = _Routes(zg, ModelGate(zg, models, providers, allow_any_model=allow_any_model))
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", routes.chat, methods=["POST"]),
            Route("/v1/embeddings", routes.embeddings, methods=["POST"]),
            Route("/v1/models", routes.models, methods=["GET"]),
        ]
    )
    return AccessGuard(app, access)


class _Routes:
    """The three endpoints behind the guard."""

    def __init__(self, zg: AsyncZeroG, gate: ModelGate) -> None:
        self.zg = zg
        self.gate = gate

    async def chat(self, request: Any) -> Any:
        from starlette.responses import StreamingResponse

        try:
            body = parse_body(await request.body())
            if not isinstance(body.get("messages"), list):
                raise Refused(400, "the body must be a JSON chat completion request with a 'messages' list")
            pool, model = await self.gate.pick(body.pop("model", None), "chatbot")
            messages = body.pop("messages")
            stream = bool(body.pop("stream", False))
            body.pop("stream_options", None)
            if stream:
                chunks = await pool.chat.completions.create(messages=messages, model=model, stream=True, **body)
                first = await anext(chunks)  # fail over (and fail) before any byte is sent
                return StreamingResponse(_sse(first, chunks), media_type="text/event-stream")
            reply = await pool.chat.completions.create(messages=messages, model=model, **body)
        except Exception as error:
            return _failure(error)
        return await _answer(reply.model_dump(mode="json", exclude={"zerog"}, exclude_none=True), reply.zerog)

    async def embeddings(self, request: Any) -> Any:
        try:
            body = parse_body(await request.body())
            if "input" not in body:
                raise Refused(400, "the body must be a JSON embeddings request with 'input'")
            pool, model = await self.gate.pick(body.pop("model", None), "embedding")
            result = await pool.embeddings.create(input=body.pop("input"), model=model, **body)
        except Exception as error:
            return _failure(error)
        return await _answer(result.model_dump(mode="json", exclude={"zerog"}, exclude_none=True), result.zerog)

    async def models(self, _request: Any) -> Any:
        from starlette.responses import JSONResponse

        try:
            services = await self.zg.services.list()
            allowed = set(await self.gate.allowed())
        except Exception as error:
            return _failure(error)
        providers = self.gate.providers
        names = sorted({s.model for s in services if s.model in allowed and (not providers or s.provider in providers)})
        return JSONResponse({"object": "list", "data": [{"id": n, "object": "model", "owned_by": "0g"} for n in names]})


def _failure(error: BaseException) -> Any:
    from starlette.responses import JSONResponse

    if isinstance(error, Refused):
        return JSONResponse(error.payload(), status_code=error.status)
    status, body = error_payload(error)
    if not isinstance(error, ZeroGError):
        log.exception("proxy request failed")
    return JSONResponse(body, status_code=status)


async def _answer(payload: dict[str, Any], record: ZeroGRecord | None) -> Any:
    """A JSON answer with the record's headers; NaN/Infinity from a provider is not forwarded (502)."""
    from starlette.responses import Response

    try:
        content = dumps(payload)
    except ValueError:
        message = "the provider's answer holds NaN or Infinity, which JSON cannot carry"
        return _failure(Refused(502, message, kind="server_error", code="invalid_provider_answer"))
    return Response(content, media_type="application/json", headers=await record_headers(record))


async def _sse(first: Any, chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    record = None
    current = first
    while current is not None:
        if current.zerog is not None:
            record = current.zerog
        try:
            data = dumps(current.model_dump(mode="json", exclude={"zerog"}, exclude_none=True))
        except ValueError:  # NaN/Infinity from the provider: end the stream with an error event
            message = "the provider's answer holds NaN or Infinity, which JSON cannot carry"
            yield b"data: " + dumps({"error": {"message": message, "type": "server_error"}}) + b"\n\n"
            return
        yield b"data: " + data + b"\n\n"
        current = await anext(chunks, None)
    verdict = await _verdict(record) if record is not None else "pending"
    yield record_comment(record, verdict)
    yield b"data: [DONE]\n\n"


def serve(zg: AsyncZeroG, *, host: str, port: int, **options: Any) -> None:
    """Run the proxy in the foreground until interrupted; ``options`` are :func:`build_app`'s."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the installed extra
        raise ConfigurationError("the proxy needs its extra: pip install 'zerog-compute[proxy]'") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the zerog proxy spends your wallet's funds: it is listening on %s, not only on loopback", host)
    app = build_app(zg, host=host, port=port, **options)
    uvicorn.run(app, host=host, port=port, log_level="warning")
