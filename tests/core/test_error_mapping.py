"""Provider error responses → typed errors (zerog_compute.http_errors.provider_error), with the broker's bodies."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zerog_compute.errors import (
    InsufficientBalanceError,
    InvalidTokenError,
    NotAcknowledgedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ZeroGError,
)
from zerog_compute.http_errors import provider_error as error_from_response

PROVIDER = "0xf07240Efa67755B5311bc75784a061eDB47165Dd"
USER = "0x1111111111111111111111111111111111111111"

INSUFFICIENT = (
    "validate request: insufficient balance: your locked balance is 1.000000 0G, but the required minimum is "
    "1.001362 0G (breakdown: minimum reserve 1.000000 0G + unsettled fees 0.001362 0G + current request fee "
    f"0.000000 0G). Please add more funds with: 0g-compute-cli transfer-fund --provider {PROVIDER} --amount <amount>"
)

# (status, body, expected type, a phrase of the advice)
TABLE: list[tuple[int, object, type[ZeroGError], str]] = [
    (400, {"error": "validate session: session token expired"}, InvalidTokenError, "renewed automatically"),
    (
        400,
        {"error": "validate session: session token has been revoked (generation expired)"},
        InvalidTokenError,
        "revoked",
    ),
    (400, {"error": "validate session: session token has been revoked"}, InvalidTokenError, "create a new token"),
    (400, {"error": "validate session: invalid session token (future generation)"}, InvalidTokenError, "wait"),
    (400, {"error": "validate session: session token is for different provider"}, InvalidTokenError, "per provider"),
    (400, {"error": "validate session: ephemeral token duration cannot exceed 24 hours"}, InvalidTokenError, "24"),
    (400, {"error": "validate session: ephemeral token must have an expiration time"}, InvalidTokenError, "expiration"),
    (
        400,
        {"error": "validate session: signature verification failed: address mismatch"},
        InvalidTokenError,
        "signature",
    ),
    (400, {"error": "validate session: invalid signature length"}, InvalidTokenError, "signature"),
    (
        400,
        {
            "error": "validate session: missing or invalid Authorization header, must be Bearer "
            "app-sk-<base64(rawMessage:signature)>"
        },
        InvalidTokenError,
        "malformed",
    ),
    (
        400,
        {"error": "validate session: invalid base64 in Authorization header: illegal base64 data at input byte 4"},
        InvalidTokenError,
        "malformed",
    ),
    (400, {"error": "Provider: validate session: session token expired"}, InvalidTokenError, "expired"),
    (
        400,
        {"error": "Provider proxy: handle proxied service, validate session: session token expired"},
        InvalidTokenError,
        "expired",
    ),
    (401, {"error": {"message": "Invalid API key", "type": "authentication_error"}}, InvalidTokenError, "token"),
    (400, {"error": INSUFFICIENT}, InsufficientBalanceError, f"zg.ledger.transfer('{PROVIDER}', amount)"),
    (
        400,
        {
            "error": "validate request: get account from contract, account not exist: execution reverted: "
            f"AccountNotExists({USER}, {PROVIDER})"
        },
        InsufficientBalanceError,
        "no sub-account",
    ),
    (
        400,
        {
            "error": "validate request: user not acknowledge the provider, please use acknowledgeProviderSigner "
            "function in sdk first, it will take effect in 2 minutes"
        },
        NotAcknowledgedError,
        "2 minutes",
    ),
    (
        400,
        {"error": "validate request: service not acknowledge the tee signer"},
        NotAcknowledgedError,
        "another provider",
    ),
    (
        400,
        {"error": 'prepare HTTP request: model not supported: requested "gpt-4", accepted: ["qwen"]'},
        RequestRejectedError,
        "model",
    ),
    (
        400,
        {"error": "prepare HTTP request: Chat id not found or expired, chat_id_not_found"},
        RequestRejectedError,
        "chat id",
    ),
    (400, {"error": "unsupported endpoint: endpoint not supported"}, RequestRejectedError, "service type"),
    (
        400,
        {"error": "check if stream: invalid character 'x' looking for beginning of value"},
        RequestRejectedError,
        "fix the request",
    ),
    (
        400,
        {"error": {"message": "This model's maximum context length is 4096 tokens", "type": "invalid_request_error"}},
        RequestRejectedError,
        "shorten",
    ),
    (413, {"error": "Request body size exceeds the maximum allowed size of 32MB"}, RequestRejectedError, "32 MB"),
    (410, {"error": "model expired"}, RequestRejectedError, "expired"),
    (403, {"error": "you can only query your own unsettled fee"}, RequestRejectedError, "fix the request"),
    (404, {"error": "job not found"}, RequestRejectedError, "job not found"),
    (503, {"error": "async processing is not enabled"}, ProviderUnavailableError, "retry later"),
    (
        429,
        {
            "error": {
                "type": "rate_limit_error",
                "message": "Rate limit exceeded. Please slow down your request rate (limit: 30 requests/min).",
            }
        },
        RateLimitedError,
        "retry later",
    ),
    (
        429,
        {
            "error": "Too many concurrent requests. You have 5 active requests (limit: 5). Please wait for some to "
            "complete."
        },
        RateLimitedError,
        "concurrent",
    ),
    (429, {"error": "Too many requests. Please try again later."}, RateLimitedError, "retry later"),
    (
        429,
        {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit exceeded."}},
        RateLimitedError,
        "Rate limit exceeded.",
    ),
    (
        503,
        {"error": "Server is currently processing too many requests. Please try again later."},
        RateLimitedError,
        "retry later",
    ),
    (503, {"error": "Service Unavailable"}, ProviderUnavailableError, "choose another provider"),
    (502, {"error": "Bad Gateway"}, ProviderUnavailableError, "Bad Gateway"),
    (504, {"error": "Gateway Timeout"}, ProviderUnavailableError, "unreachable"),
    (500, {"error": "Internal Server Error"}, ProviderUnavailableError, "HTTP 500"),
    (500, "upstream crashed <html>", ProviderUnavailableError, "upstream crashed"),
    (302, "", ProviderUnavailableError, "unexpected HTTP status"),
]


@pytest.mark.parametrize(("status", "body", "kind", "advice"), TABLE)
def test_error_table(status: int, body: object, kind: type[ZeroGError], advice: str) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    error = error_from_response(status, raw, {}, PROVIDER)
    assert type(error) is kind
    assert PROVIDER in str(error)
    assert advice in str(error)
    if isinstance(error, ProviderError):
        assert error.status_code == status
        assert error.provider == PROVIDER
        assert error.body == raw.decode()


def test_insufficient_balance_keeps_the_provider_text() -> None:
    error = error_from_response(400, json.dumps({"error": INSUFFICIENT}).encode(), {}, PROVIDER)
    assert "required minimum is 1.001362 0G" in str(error)


def test_retry_after_seconds_and_date() -> None:
    body = json.dumps({"error": "Too many requests."}).encode()
    error = error_from_response(429, body, {"Retry-After": "7"}, PROVIDER)
    assert isinstance(error, RateLimitedError) and error.retry_after == 7.0
    assert "retry in 7 s" in str(error)
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    error = error_from_response(429, body, {"retry-after": later}, PROVIDER)
    assert isinstance(error, RateLimitedError) and error.retry_after is not None and 25 < error.retry_after <= 30
    past = format_datetime(datetime.now(timezone.utc) - timedelta(seconds=30), usegmt=True)
    error = error_from_response(429, body, {"Retry-After": past}, PROVIDER)
    assert isinstance(error, RateLimitedError) and error.retry_after == 0.0
    error = error_from_response(429, body, {"Retry-After": "soon"}, PROVIDER)
    assert isinstance(error, RateLimitedError) and error.retry_after is None


def test_retry_after_from_the_message() -> None:
    tpm = {
        "error": {
            "type": "rate_limit_error",
            "message": "Token rate limit exceeded. Please wait 12 seconds (limit: 1000 tokens/min).",
        }
    }
    error = error_from_response(429, json.dumps(tpm).encode(), {}, PROVIDER)
    assert isinstance(error, RateLimitedError) and error.retry_after == 12.0
    block = {"error": "Rate limit exceeded: too many invalid model requests. Please try again in 59m0s"}
    error = error_from_response(429, json.dumps(block).encode(), {}, PROVIDER)
    assert isinstance(error, RateLimitedError) and error.retry_after == 3540.0


def test_global_rate_cap_503_with_retry_after() -> None:
    error = error_from_response(503, b'{"error":"Service Unavailable"}', {"Retry-After": "3"}, PROVIDER)
    assert isinstance(error, RateLimitedError) and error.retry_after == 3.0


def test_secrets_are_redacted() -> None:
    token = "Bearer app-sk-eyJhZGRyZXNzIjoiMHgxMjMifXwweGFiYw=="
    body = json.dumps({"error": f"bad header {token}"}).encode()
    error = error_from_response(400, body, {"Authorization": token}, PROVIDER)
    assert isinstance(error, ProviderError)
    assert "eyJhZGRy" not in str(error) and "eyJhZGRy" not in (error.body or "")
    assert "<redacted>" in str(error)


def test_long_bodies_are_cut_in_the_message() -> None:
    error = error_from_response(400, json.dumps({"error": "x" * 10_000}).encode(), {}, PROVIDER)
    assert len(str(error)) < 1000


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=599),
    body=st.binary(max_size=300),
    headers=st.dictionaries(st.sampled_from(["Retry-After", "retry-after", "X"]), st.text(max_size=40)),
)
def test_anything_maps_to_a_zerog_error(status: int, body: bytes, headers: dict[str, str]) -> None:
    error = error_from_response(status, body, headers, PROVIDER)
    assert isinstance(error, ZeroGError)
    assert PROVIDER in str(error)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["error", "message", "detail", "type"]), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_any_json_body(payload: object) -> None:
    assert isinstance(error_from_response(400, json.dumps(payload).encode(), {}, PROVIDER), ZeroGError)


def test_plain_bearer_tokens_are_redacted() -> None:
    body = json.dumps({"error": "invalid token Bearer sk-abcdefghijklmnop"}).encode()
    error = error_from_response(401, body, {}, PROVIDER)
    assert "abcdefghijklmnop" not in str(error) and "Bearer <redacted>" in str(error)
