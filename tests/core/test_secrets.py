"""The wallet's private key and the ``app-sk-`` session tokens never leak.

A realistic flow runs against the devnet with every logger at DEBUG (httpx and httpcore included); then
the captured log text, ``repr``/``str`` of the client, of every result and record, and the message,
``repr`` and formatted traceback of every error are searched for the key (any case, with or without
``0x``), for the generic ``app-sk-`` prefix, and for the exact tokens the client put on the wire (seen
through an httpx request hook, the only place a test can observe them).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import pickle
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from zerog_compute import (
    AsyncZeroG,
    InvalidTokenError,
    NotAcknowledgedError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ServiceNotFoundError,
    StreamInterruptedError,
    ZeroG,
    ZeroGError,
)
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
TOKEN_PREFIX = "app-sk-"
PLACEHOLDERS = (TOKEN_PREFIX + "<redacted>", TOKEN_PREFIX + "<base64>")
UNKNOWN_PROVIDER = "0x000000000000000000000000000000000000dEaD"


class Evidence:
    """Everything a user, a log aggregator or an error tracker could see, as labelled text."""

    def __init__(self, private_key: str) -> None:
        self.key_hex = private_key.lower().removeprefix("0x")
        self.key_bytes = bytes.fromhex(self.key_hex)
        self.texts: list[tuple[str, str]] = []
        self.blobs: list[tuple[str, bytes]] = []
        self.wire_tokens: list[str] = []  # Authorization values seen on the wire (never part of the evidence)
        self.errors: list[BaseException] = []

    # -- collecting

    def text(self, label: str, value: str) -> None:
        self.texts.append((label, value))

    def obj(self, label: str, value: object) -> None:
        self.text(f"repr({label})", repr(value))
        self.text(f"str({label})", str(value))

    def model(self, label: str, value: Any) -> None:
        self.obj(label, value)
        self.text(f"{label}.model_dump_json()", value.model_dump_json())
        zerog = getattr(value, "zerog", None)
        if zerog is not None:
            self.obj(f"{label}.zerog", zerog)
            self.text(f"{label}.zerog.model_dump_json()", zerog.model_dump_json())
            self.obj(f"{label}.zerog.verification", zerog.verification)

    def error(self, label: str, exc: BaseException) -> None:
        self.errors.append(exc)
        self.obj(label, exc)
        self.text(f"traceback({label})", "".join(traceback.format_exception(exc)))
        self.text(f"vars({label})", repr(vars(exc)))
        for cause in (exc.__cause__, exc.__context__):
            if cause is not None:
                self.obj(f"{label}.__cause__/__context__", cause)
        with contextlib.suppress(TypeError, pickle.PicklingError, AttributeError):
            self.blobs.append((f"pickle({label})", pickle.dumps(exc)))

    def expect(self, label: str, kind: type[BaseException], call: Callable[[], object]) -> BaseException:
        with pytest.raises(kind) as info:
            call()
        self.error(label, info.value)
        return info.value

    def hook(self, request: httpx.Request) -> None:
        auth = request.headers.get("authorization")
        if auth:
            self.wire_tokens.append(auth)

    async def ahook(self, request: httpx.Request) -> None:
        self.hook(request)

    # -- checking

    def token_fragments(self) -> set[str]:
        """The base64 payload of every token sent, and the signature inside it (the credential part)."""
        fragments = set()
        for auth in self.wire_tokens:
            assert auth.startswith("Bearer " + TOKEN_PREFIX), "the client sent something other than a session token"
            payload = auth.removeprefix("Bearer " + TOKEN_PREFIX)
            fragments.add(payload)
            fragments.add(payload[-64:])  # the tail alone: a truncated echo must not leak either
            signature = base64.b64decode(payload).decode().rpartition("|")[2]
            fragments.add(signature.lower().removeprefix("0x"))
        return {f.lower() for f in fragments}

    def assert_clean(self, *, allow_placeholders: bool = False) -> None:
        assert self.wire_tokens, "no session token was observed on the wire: the flow did not run"
        fragments = self.token_fragments()
        assert self.texts
        for label, value in self.texts:
            lowered = value.lower()
            assert self.key_hex not in lowered, f"private key leaked in {label}"
            assert not any(f in lowered for f in fragments), f"session token leaked in {label}: {value[:2000]}"
            if allow_placeholders:  # the redaction marker and the client's static format hint are not tokens
                for placeholder in PLACEHOLDERS:
                    lowered = lowered.replace(placeholder, "")
            assert TOKEN_PREFIX not in lowered, f"'{TOKEN_PREFIX}' appears in {label}: {value[:2000]}"
        for label, blob in self.blobs:
            lowered_blob = blob.lower()
            assert self.key_bytes not in blob, f"raw private key bytes in {label}"
            assert self.key_hex.encode() not in lowered_blob, f"private key hex in {label}"
            assert not any(f.encode() in lowered_blob for f in fragments), f"session token in {label}"


@pytest.fixture
def evidence(devnet: Devnet) -> Evidence:
    return Evidence(devnet.users[0].private_key)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG into caplog (the root and, explicitly, the HTTP stack and the client)."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "zerog_compute", "zerog_devnet", "web3", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


def add_logs(evidence: Evidence, caplog: pytest.LogCaptureFixture) -> None:
    names = {record.name.split(".")[0] for record in caplog.records}
    assert {"httpx", "httpcore"} <= names, f"the HTTP stack's DEBUG logs were not captured (got {names})"
    evidence.text("caplog.text", caplog.text)
    for record in caplog.records:
        evidence.text(f"log record {record.name}", f"{record.getMessage()} {record.args!r} {vars(record)!r}")


def check_secrets_flow_sync(zg: ZeroG, devnet: Devnet, ev: Evidence) -> None:
    a, b = provider(devnet, "chat-a"), provider(devnet, "chat-b")
    ev.obj("zg", zg)
    ev.text("repr(vars(zg))", repr(vars(zg)))
    for name in ("ledger", "services", "chat", "images", "audio", "embeddings"):
        ev.obj(f"zg.{name}", getattr(zg, name))
    ev.obj("zg.chat.completions", zg.chat.completions)
    ev.obj("zg.network", zg.network)

    ev.obj("services", zg.services.list())
    ev.obj("ledger", zg.ledger.get())
    ev.obj("sub-account", zg.ledger.sub_account(a))

    reply = zg.chat.completions.create(provider=a, messages=ASK)
    assert reply.choices[0].message.content == "2 + 3 = 5"
    assert reply.zerog is not None
    reply.zerog.verdict(timeout=10)
    ev.model("reply", reply)

    chunks = list(zg.chat.completions.create(provider=a, messages=ASK, stream=True))
    assert chunks[-1].zerog is not None
    chunks[-1].zerog.verdict(timeout=10)
    for i, chunk in enumerate(chunks):
        ev.model(f"chunk[{i}]", chunk)
    ev.obj("ledger after", zg.ledger.get())

    ev.expect(
        "wrong model", RequestRejectedError, lambda: zg.chat.completions.create(provider=a, messages=ASK, model="gpt-4")
    )
    ev.expect(
        "unfunded provider",
        NotAcknowledgedError,
        lambda: zg.chat.completions.create(provider=provider(devnet, "chat-c"), messages=ASK),
    )
    ev.expect(
        "unknown provider",
        ServiceNotFoundError,
        lambda: zg.chat.completions.create(provider=UNKNOWN_PROVIDER, messages=ASK),
    )

    devnet.provider("chat-a").faults.set(http_status=502)
    ev.expect("502", ProviderUnavailableError, lambda: zg.chat.completions.create(provider=a, messages=ASK))
    ev.expect(
        "502 stream",
        ProviderUnavailableError,
        lambda: list(zg.chat.completions.create(provider=a, messages=ASK, stream=True)),
    )
    devnet.provider("chat-a").faults.clear()

    faults = devnet.provider("chat-b").faults
    faults.set(http_status=401)  # the provider rejects the token: the client drops it and makes a new one
    ev.expect("401", InvalidTokenError, lambda: zg.chat.completions.create(provider=b, messages=ASK))
    faults.set(http_status=0, stream_cut_after=2)
    ev.expect(
        "cut stream",
        StreamInterruptedError,
        lambda: list(zg.chat.completions.create(provider=b, messages=ASK, stream=True)),
    )
    faults.set(stream_cut_after=-1, drop_connection=True)
    ev.expect(
        "dropped connection", ProviderUnavailableError, lambda: zg.chat.completions.create(provider=b, messages=ASK)
    )
    faults.set(drop_connection=False, rate_limit_storm=True)
    ev.expect("rate limited", RateLimitedError, lambda: zg.chat.completions.create(provider=b, messages=ASK))
    faults.clear()

    again = zg.chat.completions.create(provider=b, messages=ASK)  # a fresh token after the 401
    assert again.zerog is not None
    again.zerog.verdict(timeout=10)
    ev.model("reply after 401", again)
    ev.obj("zg at the end", zg)
    assert len(set(ev.wire_tokens)) >= 3  # chat-a, chat-b, and chat-b's replacement


def test_no_secret_leaks_in_a_realistic_sync_flow(
    devnet: Devnet, evidence: Evidence, debug_logs: pytest.LogCaptureFixture
) -> None:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b"])
    http = httpx.Client(timeout=60.0, event_hooks={"request": [evidence.hook]})
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet), http_client=http) as zg:
        check_secrets_flow_sync(zg, devnet, evidence)
    assert all(isinstance(e, ZeroGError) for e in evidence.errors)
    add_logs(evidence, debug_logs)
    evidence.assert_clean()


@pytest.mark.anyio
async def test_no_secret_leaks_in_a_realistic_async_flow(
    anyio_backend: str, devnet: Devnet, evidence: Evidence, debug_logs: pytest.LogCaptureFixture
) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    a = provider(devnet, "chat-a")
    http = httpx.AsyncClient(timeout=60.0, event_hooks={"request": [evidence.ahook]})
    network = devnet_network(devnet)
    async with AsyncZeroG(private_key=devnet.users[0].private_key, network=network, http_client=http) as azg:
        evidence.obj("azg", azg)
        evidence.text("repr(vars(azg))", repr(vars(azg)))
        evidence.obj("ledger", await azg.ledger.get())
        reply = await azg.chat.completions.create(provider=a, messages=ASK)
        assert reply.zerog is not None
        await reply.zerog.averdict()
        evidence.model("reply", reply)
        chunks = [c async for c in await azg.chat.completions.create(provider=a, messages=ASK, stream=True)]
        assert chunks[-1].zerog is not None
        await chunks[-1].zerog.averdict()
        for i, chunk in enumerate(chunks):
            evidence.model(f"chunk[{i}]", chunk)
        with pytest.raises(RequestRejectedError) as rejected:
            await azg.chat.completions.create(provider=a, messages=ASK, model="gpt-4")
        evidence.error("wrong model", rejected.value)
        with pytest.raises(ServiceNotFoundError) as unknown:
            await azg.chat.completions.create(provider=UNKNOWN_PROVIDER, messages=ASK)
        evidence.error("unknown provider", unknown.value)
        devnet.provider("chat-a").faults.set(http_status=502)
        with pytest.raises(ProviderUnavailableError) as info:
            await azg.chat.completions.create(provider=a, messages=ASK)
        evidence.error("502", info.value)
        with pytest.raises(ProviderUnavailableError) as info:
            [c async for c in await azg.chat.completions.create(provider=a, messages=ASK, stream=True)]
        evidence.error("502 stream", info.value)
        devnet.provider("chat-a").faults.clear()
    add_logs(evidence, debug_logs)
    evidence.assert_clean()


def test_token_echoed_by_a_provider_is_redacted(
    devnet: Devnet, evidence: Evidence, debug_logs: pytest.LogCaptureFixture
) -> None:
    """A provider that echoes the Authorization header in its error body: the token is redacted everywhere."""
    devnet.fund(devnet.users[0], ["chat-a"])
    a = provider(devnet, "chat-a")

    def echo(request: httpx.Request) -> httpx.Response:
        evidence.hook(request)
        auth = request.headers["authorization"]
        token = auth.removeprefix("Bearer ")
        bodies = {
            "json-header": (401, json.dumps({"error": f"validate session: bad Authorization header {auth!r}"})),
            "json-token": (400, json.dumps({"error": {"message": f"validate session: token {token} is unknown"}})),
            "text": (500, f"upstream failed for {auth}; token={token}"),
        }
        status, body = bodies[current[0]]
        return httpx.Response(status, content=body.encode(), request=request)

    current = ["json-header"]
    http = httpx.Client(transport=httpx.MockTransport(echo))
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet), http_client=http) as zg:
        for case, kind in [
            ("json-header", InvalidTokenError),
            ("json-token", InvalidTokenError),
            ("text", ProviderUnavailableError),
        ]:
            current[0] = case
            exc = evidence.expect(case, kind, lambda: zg.chat.completions.create(provider=a, messages=ASK))
            assert "<redacted>" in str(exc) or "<redacted>" in str(getattr(exc, "body", ""))
            exc = evidence.expect(
                f"{case} stream", kind, lambda: list(zg.chat.completions.create(provider=a, messages=ASK, stream=True))
            )
    add_logs(evidence, debug_logs)
    evidence.assert_clean(allow_placeholders=True)


# --------------------------------------------------------------------------- pickle and copy


def refuses_or_hides(action: Callable[[Any], Any], client: object, key: str) -> None:
    """``action(client)`` raises TypeError (without the key in its message) or its output lacks the key."""
    key_hex = key.lower().removeprefix("0x")
    try:
        result = action(client)
    except TypeError as exc:
        assert key_hex not in str(exc).lower() and key_hex not in "".join(traceback.format_exception(exc)).lower()
        return
    blob = result if isinstance(result, bytes) else pickle.dumps(result)
    assert bytes.fromhex(key_hex) not in blob and key_hex.encode() not in blob.lower()


PICKLERS = [pytest.param(lambda obj, p=p: pickle.dumps(obj, protocol=p), id=f"pickle-{p}") for p in range(6)]
COPIERS = [*PICKLERS, pytest.param(copy.deepcopy, id="deepcopy")]


@pytest.mark.parametrize("action", COPIERS)
def test_sync_client_cannot_be_pickled_or_deep_copied_with_its_key(
    devnet: Devnet, action: Callable[[Any], Any]
) -> None:
    key = devnet.users[0].private_key
    with ZeroG(private_key=key, network=devnet_network(devnet)) as zg:
        zg.ledger.sub_accounts()  # some state: a checked chain id, cached things
        refuses_or_hides(action, zg, key)
        refuses_or_hides(action, zg.chat.completions, key)  # resources hold the client and its context
        refuses_or_hides(action, zg.ledger, key)


@pytest.mark.anyio
@pytest.mark.parametrize("action", COPIERS)
async def test_async_client_cannot_be_pickled_or_deep_copied_with_its_key(
    anyio_backend: str, devnet: Devnet, action: Callable[[Any], Any]
) -> None:
    key = devnet.users[0].private_key
    async with AsyncZeroG(private_key=key, network=devnet_network(devnet)) as azg:
        await azg.ledger.sub_accounts()
        refuses_or_hides(action, azg, key)
        refuses_or_hides(action, azg.chat.completions, key)


def test_client_repr_shows_address_not_key(devnet: Devnet) -> None:
    key = devnet.users[0].private_key
    with ZeroG(private_key=key.upper().replace("0X", "0x"), network=devnet_network(devnet)) as zg:
        for text in (repr(zg), str(zg), f"{zg!r}", format(zg)):
            assert devnet.users[0].address in text
            assert key.lower().removeprefix("0x") not in text.lower()
