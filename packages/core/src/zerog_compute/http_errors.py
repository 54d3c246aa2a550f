"""What a non-2xx HTTP answer means: the typed error for a provider's answer and for the Router's.

Two tables side by side, both pure: :func:`provider_error` (Direct mode, the provider broker's messages
and statuses) and :func:`router_error` (Router mode, the Router's OpenAI-shaped error objects). Both
redact key material a body might echo, and neither ever looks at request headers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from ._io import loads_json
from .errors import (
    ConfigurationError,
    InsufficientBalanceError,
    InvalidTokenError,
    NotAcknowledgedError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ServiceNotFoundError,
    ZeroGError,
)

__all__ = ["go_duration", "header", "provider_error", "redact", "redact_router", "router_error", "scrub", "scrub_error"]

_ROUTER_SECRET = re.compile(r"\b((?:sk|mk)-)[A-Za-z0-9_-]{8,}")
_KEY_CODES = frozenset({"invalid_api_key", "missing_authorization", "api_key_revoked"})
TOP_UP = "top up at pc.0g.ai"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by case-insensitive name, stripped; None when absent or blank."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if value is None:
        return None
    return value.strip() or None


_SECRET = re.compile(r"(app-sk-)[A-Za-z0-9+/=]{8,}|(Bearer\s+)(?!app-sk-)[A-Za-z0-9+/=._~-]{8,}", re.IGNORECASE)
_GLOBAL_CAP = "processing too many requests"
_MAX_BODY_CHARS = 16_384


def redact(text: str) -> str:
    """``text`` with session tokens and bearer credentials replaced by ``<redacted>``."""
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "<redacted>", text)


MIN_SECRET_PIECE = 8
"""Pieces of a known secret this long or longer are removed from provider text (:func:`scrub`)."""
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_REDACTED = "<redacted>"


def _secret_forms(secret: str) -> list[str]:
    """How a provider could echo ``secret`` (``[Bearer ]app-sk-…``): as is, its base64 payload, the signature it
    carries, URL-encoded (partly or wholly), each also reversed; lower-cased."""
    token = secret.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    forms = [token, token.removeprefix("app-sk-")]
    try:
        decoded = base64.b64decode(forms[1], validate=True).decode("utf-8")
        forms.append(decoded.rpartition("|")[2])  # the signature (the claims themselves are no secret)
    except (binascii.Error, ValueError):
        pass
    forms += [re.sub(r"[^A-Za-z0-9_.~-]", lambda m: f"%{ord(m.group()):02x}", token)]
    forms += ["".join(f"%{byte:02x}" for byte in token.encode())]
    forms += [form[::-1] for form in forms]
    return [form.translate(_LOWER) for form in forms if len(form) >= MIN_SECRET_PIECE]


def _pieces(secrets: Iterable[str]) -> frozenset[str]:
    return frozenset(
        form[i : i + MIN_SECRET_PIECE]
        for secret in secrets
        for form in _secret_forms(secret)
        for i in range(len(form) - MIN_SECRET_PIECE + 1)
    )


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any piece of ``secrets`` of :data:`MIN_SECRET_PIECE` characters or more, in any case,
    reversed or URL-encoded (each run of such pieces becomes ``<redacted>``), then :func:`redact`."""
    pieces = _pieces(secrets)
    lowered = text.translate(_LOWER)  # ASCII only: same length, positions line up
    covered = bytearray(len(text))
    for i in range(len(text) - MIN_SECRET_PIECE + 1):
        if lowered[i : i + MIN_SECRET_PIECE] in pieces:
            covered[i : i + MIN_SECRET_PIECE] = b"\x01" * MIN_SECRET_PIECE
    if any(covered):
        parts = re.split(r"(\x01+)", covered.decode("latin-1"))
        out, at = [], 0
        for part in parts:
            out.append(_REDACTED if part.startswith("\x01") else text[at : at + len(part)])
            at += len(part)
        text = "".join(out)
    return redact(text)


def scrub_error(error: BaseException, secrets: Iterable[str]) -> BaseException:
    """Remove ``secrets`` (see :func:`scrub`) from ``error``'s message and string attributes, and from the errors
    it was raised from (their messages, and an ``Authorization`` header of the HTTP request they carry). In place;
    returns ``error``."""
    secrets = [secret for secret in secrets if secret]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and secrets:
        seen.add(id(current))
        current.args = tuple(scrub(arg, secrets) if isinstance(arg, str) else arg for arg in current.args)
        for name, value in list(getattr(current, "__dict__", {}).items()):
            if isinstance(value, str):
                setattr(current, name, scrub(value, secrets))
        _drop_authorization(current)
        current = current.__cause__ or current.__context__
    return error


def _drop_authorization(error: BaseException) -> None:
    """Blank the ``Authorization`` header of the request an HTTP client's error carries (httpx: ``.request``)."""
    try:
        request = getattr(error, "request", None)
    except RuntimeError:  # httpx: an error raised without a request
        return
    headers = getattr(request, "headers", None)
    if headers is not None and "authorization" in headers:
        headers["authorization"] = _REDACTED


def _message_of(body: bytes) -> str:
    """The provider's error message: ``{"error": "..."}``, ``{"error": {"message": ...}}`` or the text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = loads_json(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's recursion limit
        return text
    if not isinstance(payload, dict):
        return text
    error = payload.get("error", payload.get("message", payload.get("detail")))
    if isinstance(error, dict):
        error = error.get("message") or error
    if error is None:
        return text
    return error if isinstance(error, str) else json.dumps(error)


_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration such as ``2s``, ``59m0s``, ``1h2m3.5s`` or ``500ms``; None if it is not one."""
    text = text.strip()
    if not text or _GO_PART.sub("", text):
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_PART.findall(text))


def _retry_after(headers: Mapping[str, str], message: str) -> float | None:
    """``Retry-After`` (seconds or HTTP date), else a wait the message names; None if unknown."""
    value = header(headers, "Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    wait = re.search(r"wait (\d+(?:\.\d+)?) seconds?", message)
    if wait:
        return float(wait.group(1))
    again = re.search(r"try again in (\S+?)\.?$", message)
    return go_duration(again.group(1)) if again else None


@dataclass(frozen=True)
class _Failure:
    status: int
    message: str
    body: str
    provider: str
    headers: Mapping[str, str]

    @property
    def who(self) -> str:
        return f"provider {self.provider}"

    def kwargs(self) -> dict[str, Any]:
        return {"status_code": self.status, "body": self.body, "provider": self.provider}


_TOKEN_ADVICE: tuple[tuple[str, str], ...] = (
    ("revoked", "the token was revoked on chain (its generation or id); create a new token"),
    (
        "future generation",
        "the token is newer than the provider's cached account state; wait a few minutes "
        "(the provider refreshes it within ~10 minutes) or use an ephemeral token",
    ),
    ("different provider", "the token was issued for another provider; tokens are per provider"),
    ("24 hours", "ephemeral tokens must expire within 24 hours of their timestamp"),
    ("expiration time", "ephemeral tokens must have an expiration time"),
    (
        "expired",
        "the token expired; retry: ephemeral tokens are renewed automatically, "
        "an expired persistent API key must be replaced by a new one",
    ),
    ("authorization", "the Authorization header is malformed; it must be `Bearer app-sk-<base64>`"),
    ("signature", "the token's signature does not match its address; sign it with the wallet it names"),
)


def _invalid_token(f: _Failure) -> ZeroGError:
    reason = f.message.lower()
    advice = next((text for key, text in _TOKEN_ADVICE if key in reason), "create a new session token and retry")
    return InvalidTokenError(f"{f.who} rejected the session token ({f.message}): {advice}", **f.kwargs())


def _insufficient(f: _Failure) -> ZeroGError:
    return InsufficientBalanceError(
        f"{f.who} refused the request: your sub-account balance is too low ({f.message}). "
        f"Transfer funds with zg.ledger.transfer({f.provider!r}, amount) (or enable auto-funding) and retry"
    )


def _no_account(f: _Failure) -> ZeroGError:
    return InsufficientBalanceError(
        f"you have no sub-account with {f.who} yet ({f.message}). Create and fund it with "
        f"zg.ledger.transfer({f.provider!r}, amount), then retry"
    )


def _user_not_acknowledged(f: _Failure) -> ZeroGError:
    return NotAcknowledgedError(
        f"your sub-account with {f.who} is not acknowledged ({f.message}). Acknowledge the provider again "
        "(or transfer funds to it, which acknowledges it); the provider sees the change within ~2 minutes"
    )


def _tee_not_acknowledged(f: _Failure) -> ZeroGError:
    return NotAcknowledgedError(
        f"{f.who} does not serve requests yet: its TEE signer is not acknowledged on chain ({f.message}). "
        "Choose another provider or try again later"
    )


def _rejected(advice: str) -> Callable[[_Failure], ZeroGError]:
    def build(f: _Failure) -> ZeroGError:
        return RequestRejectedError(
            f"{f.who} rejected the request (HTTP {f.status}: {f.message}): {advice}", **f.kwargs()
        )

    return build


def _rate_limited(f: _Failure) -> ZeroGError:
    wait = _retry_after(f.headers, f.message)
    when = f"retry in {wait:g} s" if wait is not None else "retry later"
    return RateLimitedError(
        f"{f.who} is rate-limiting you (HTTP {f.status}: {f.message}): {when}, or send fewer concurrent requests",
        retry_after=wait,
        **f.kwargs(),
    )


def _unavailable(f: _Failure) -> ZeroGError:
    what = "its model server is unreachable or failed" if f.status >= 500 else "unexpected HTTP status"
    return ProviderUnavailableError(
        f"{f.who} failed (HTTP {f.status}: {f.message}): {what}; retry later or choose another provider",
        **f.kwargs(),
    )


_BY_MESSAGE: tuple[tuple[str, Callable[[_Failure], ZeroGError]], ...] = (
    ("validate session:", _invalid_token),
    ("insufficient balance", _insufficient),
    ("account not exist", _no_account),
    ("user not acknowledge the provider", _user_not_acknowledged),
    ("not acknowledge the tee signer", _tee_not_acknowledged),
    ("model not supported", _rejected("use the model this provider serves (its service model), or omit `model`")),
    ("chat id not found", _rejected("the chat id is unknown or expired; signatures are kept only for a while")),
    ("unsupported endpoint", _rejected("this provider does not serve that endpoint; check its service type")),
    ("maximum context length", _rejected("shorten the prompt or lower max_tokens")),
)

_BY_STATUS: dict[int, Callable[[_Failure], ZeroGError]] = {
    401: _invalid_token,
    410: _rejected("the model has expired on this provider; choose another provider or model"),
    413: _rejected("the request body exceeds the provider's size limit (32 MB); send smaller inputs"),
    429: _rate_limited,
}


def _by_status(f: _Failure) -> ZeroGError:
    builder = _BY_STATUS.get(f.status)
    if builder is not None:
        return builder(f)
    if f.status == 503 and (_GLOBAL_CAP in f.message.lower() or header(f.headers, "Retry-After")):
        return _rate_limited(f)
    if 400 <= f.status < 500:
        return _rejected("fix the request as the message says")(f)
    return _unavailable(f)


def provider_error(status: int, body: bytes, headers: Mapping[str, str], provider: str) -> ZeroGError:
    """The typed error for a provider's non-2xx answer.

    Known broker messages decide first (any status below 500), then the status: 401 → InvalidTokenError;
    413, 410 and other 4xx → RequestRejectedError; 429, and 503 for the global concurrency cap or with
    ``Retry-After`` → RateLimitedError; other statuses → ProviderUnavailableError. Balance problems raise
    ``InsufficientBalanceError`` (also when the sub-account does not exist: funding it creates it) and
    acknowledgement problems ``NotAcknowledgedError``; all others are ``ProviderError`` subclasses. Token
    values that a body might echo are redacted; request headers are never used.
    """
    text = redact(body.decode("utf-8", errors="replace"))[:_MAX_BODY_CHARS]
    message = redact(_message_of(body))[:500] or "no error message"
    failure = _Failure(status, message, text, provider, headers)
    if status < 500 and status != 429:
        lowered = message.lower()
        for needle, builder in _BY_MESSAGE:
            if needle in lowered:
                return builder(failure)
    return _by_status(failure)


# --------------------------------------------------------------------------- the Router


def redact_router(text: str) -> str:
    """:func:`redact`, and Router ``sk-``/``mk-`` keys too."""
    return _ROUTER_SECRET.sub(lambda m: m.group(1) + "<redacted>", redact(text))


def _parse_error(body: bytes) -> tuple[str, str, str, str | None]:
    """``(message, type, code, request_id)`` of an OpenAI-shaped Router error (lenient)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = loads_json(text)
    except ValueError:
        return text or "no error message", "", "", None
    if not isinstance(payload, dict):
        return text, "", "", None
    error = payload.get("error")
    request_id = payload.get("request_id") if isinstance(payload.get("request_id"), str) else None
    if isinstance(error, dict):
        message = str(error.get("message") or text)
        return message, str(error.get("type") or ""), str(error.get("code") or ""), request_id
    return str(error or payload.get("message") or text), "", "", request_id


def _key_network(network: str | None) -> str:
    if network in ("mainnet", "testnet"):
        other = "testnet" if network == "mainnet" else "mainnet"
        site = "pc.0g.ai" if network == "mainnet" else "pc.testnet.0g.ai"
        return (
            f"; this is the {network} Router, whose keys are made at {site} (a {other} key works only with "
            f"network={other!r})"
        )
    return "; create or rotate keys at pc.0g.ai (mainnet) or pc.testnet.0g.ai (testnet)"


def router_error(
    status: int, body: bytes, headers: Mapping[str, str], *, provider: str | None = None, network: str | None = None
) -> ZeroGError:
    """The typed error for a non-2xx Router answer.

    400 → RequestRejectedError (InvalidTokenError for a missing, invalid or revoked key); 401 →
    InvalidTokenError; 402 → InsufficientBalanceError; 403 → ConfigurationError for ``insufficient_scope``
    (wrong kind of key), else InvalidTokenError; 404 → ServiceNotFoundError; 429 → RateLimitedError with
    ``Retry-After``; 5xx (502 ``provider_error``, 503 ``no_available_provider``) → ProviderUnavailableError.
    Key material a body might echo is redacted. ``network`` names the Router's network in key hints (keys
    are per network: pc.0g.ai for mainnet, pc.testnet.0g.ai for testnet).
    """
    raw_message, kind, code, request_id = _parse_error(body)
    message = redact_router(raw_message)[:500]
    text = redact_router(body.decode("utf-8", errors="replace"))[:_MAX_BODY_CHARS]
    parts = (f"HTTP {status}", code or kind, f"request {request_id}" if request_id else "")
    said = f"the 0G Router: {message} ({', '.join(part for part in parts if part)})"
    kwargs: dict[str, Any] = {"status_code": status, "body": text, "provider": provider}
    if status == 402 or code == "insufficient_balance":
        return InsufficientBalanceError(f"{said}: your Router balance is empty; {TOP_UP} and retry")
    if status == 401 or (status == 400 and code in _KEY_CODES):
        return InvalidTokenError(f"{said}: check router_api_key ($ZG_ROUTER_API_KEY){_key_network(network)}", **kwargs)
    if status == 403:
        if code == "insufficient_scope":
            return ConfigurationError(
                f"{said}: wrong kind of key for this call: inference needs an sk- key, /v1/account/* an mk- "
                "management key (zg.router.balance(management_key='mk-…'))"
            )
        return InvalidTokenError(f"{said}: this key may not do that", **kwargs)
    if status == 404:
        return ServiceNotFoundError(f"{said}: check the model id (zg.router.models() lists them)")
    if status == 429:
        wait = _retry_after(headers, message)
        when = f"retry in {wait:g} s" if wait is not None else "retry later"
        return RateLimitedError(f"{said}: {when}, or send fewer requests", retry_after=wait, **kwargs)
    if 400 <= status < 500:
        return RequestRejectedError(f"{said}: fix the request as the message says", **kwargs)
    advice = {
        "provider_error": "every provider the Router tried failed",
        "no_available_provider": "no provider is available for this model right now",
        "no_provider_for_trust_mode": "no provider meets the requested trust mode",
    }.get(code, "the Router failed")
    return ProviderUnavailableError(f"{said}: {advice}; retry later or pick another model", **kwargs)
