"""Hardening (issue #7): the parsers that face providers never crash, whatever a provider sends.

Every property feeds arbitrary provider data — response statuses, headers and bodies, streamed bytes,
session-token headers (the devnet broker's side), ``additionalInfo`` JSON — and amounts, and asserts that
the outcome is a result or a *typed* error (:class:`ZeroGError`, or the broker's ``SessionError``), never
another exception and never a hang. No network: flows are driven by hand with canned ``HttpResult``s, and
the clients talk to an ``httpx.MockTransport`` with the service and the sub-account generation pre-cached,
so no chain RPC is needed (any RPC would go to a closed port and fail the test loudly).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from zerog_compute import AsyncZeroG, Network, ZeroG, direct, units
from zerog_compute._context import Context
from zerog_compute._io import Http, HttpResult, Sleep
from zerog_compute.backend import Call, Completed
from zerog_compute.direct import Prepared
from zerog_compute.errors import ConfigurationError, ProviderError, ZeroGError
from zerog_compute.ratelimit import MAX_RETRY_AFTER_S
from zerog_compute.services import Service
from zerog_compute.signer import Wallet
from zerog_compute.stream import StreamState
from zerog_compute.types import ChatCompletionChunk, ZeroGRecord
from zerog_compute.verification import VerificationResult, evaluate, expected_signer, verifiability_problem
from zerog_devnet.broker.tokens import AccountState, SessionError, SessionToken, parse_authorization, validate_session

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
WALLET = Wallet(KEY)
PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TEE = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
NETWORK = Network(
    name="hardening",
    chain_id=31337,
    rpc_url="http://127.0.0.1:9",  # closed: a test that reaches the chain fails with ChainError
    ledger="0x5FbDB2315678afecb367f032d93F642f64180aa3",
    inference="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
)
ROUTES: dict[str, tuple[str, dict[str, Any], dict[str, tuple[str, bytes, str]] | None]] = {
    "/chat/completions": ("chatbot", {"messages": [{"role": "user", "content": "hi"}]}, None),
    "/embeddings": ("embedding", {"input": "hi"}, None),
    "/images/generations": ("text-to-image", {"prompt": "a cat", "n": 2}, None),
    "/audio/transcriptions": ("speech-to-text", {}, {"file": ("a.wav", b"RIFF", "application/octet-stream")}),
}
TOKEN_PLACEHOLDER = b"{AUTHORIZATION}"
"""Replaced, in a canned body, by the request's own Authorization header (a provider echoing the token)."""

# JSON nested deeper than Python's recursion limit: json.loads raises RecursionError, not ValueError.
DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 3000 + "1" + "}" * 3000
DEEP = [DEEP_ARRAY, DEEP_OBJECT, '{"usage":' + DEEP_ARRAY + "}", '{"error":' + DEEP_OBJECT + "}"]

fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def service(service_type: str = "chatbot", **overrides: Any) -> Service:
    fields: dict[str, Any] = {
        "provider": PROVIDER,
        "service_type": service_type,
        "url": "http://provider.test",
        "input_price": 3,
        "output_price": 5,
        "updated_at": 0,
        "model": "test-model",
        "verifiability": "TeeML",
        "additional_info": json.dumps({"TargetSeparated": False}),
        "tee_signer_address": TEE,
        "tee_signer_acknowledged": True,
    }
    return Service(**(fields | overrides))


def warm(ctx: Context, service_type: str) -> Context:
    """Cache the service and the sub-account generation: requests then need no chain RPC."""
    ctx.services.put(PROVIDER.lower(), service(service_type))
    ctx.generations.put(PROVIDER.lower(), 0)
    return ctx


# --------------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**300)
    | st.floats()  # NaN and ±Infinity too: Python's json writes and reads them
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
usage_keys = st.sampled_from(
    ["prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens", "seconds", "type"]
)
usages = st.dictionaries(usage_keys, json_values | st.just("duration") | st.integers(0, 10**6), max_size=5)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "model": json_values,
        "object": json_values,
        "created": json_values,
        "choices": json_values
        | st.lists(st.fixed_dictionaries({}, optional={"index": json_values, "message": json_values}), max_size=2),
        "data": json_values
        | st.lists(st.fixed_dictionaries({}, optional={"b64_json": json_values, "embedding": json_values}), max_size=2),
        "usage": usages | json_values,
        "text": json_values,
        "duration": json_values,
        "zerog": json_values,
        "error": json_values,
    },
)
broker_messages = st.sampled_from(
    [
        "validate session: session token expired",
        "validate session: missing or invalid Authorization header",
        "insufficient balance",
        "account not exist",
        "user not acknowledge the provider",
        "not acknowledge the TEE signer",
        "model not supported",
        "chat id not found",
        "unsupported endpoint",
        "maximum context length",
        "processing too many requests",
        "please wait 7 seconds",
        "try again in 1h2m3.5s.",
        "try again in 99999999999999999999h.",
        "please wait 1" + "0" * 400 + " seconds",
    ]
)
error_bodies = st.builds(
    lambda message, extra, shape: json.dumps(shape(message + extra)),
    broker_messages,
    st.text(max_size=20),
    st.sampled_from([lambda m: {"error": m}, lambda m: {"error": {"message": m}}, lambda m: {"message": m}]),
).map(str.encode)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(json.dumps).map(str.encode),
    shaped.map(json.dumps).map(str.encode),
    error_bodies,
    st.sampled_from(DEEP).map(str.encode),
    st.builds(lambda a, b: a + TOKEN_PLACEHOLDER + b, st.binary(max_size=20), st.binary(max_size=20)),
    st.just(b'{"error": "bad token ' + TOKEN_PLACEHOLDER + b'"}'),
)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40) | st.sampled_from(
    [
        "nan",
        "inf",
        "-inf",
        "1e309",
        "-5",
        "99999999999999999999",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Mon, 99 Foo 2020 99:99:99 GMT",
    ]
)
response_headers = st.dictionaries(
    st.sampled_from(["Retry-After", "ZG-Res-Key", "zg-res-key", "Content-Type", "X-Other"]), header_values, max_size=3
)
statuses = st.sampled_from([200, 200, 200, 400, 401, 402, 403, 404, 410, 413, 429, 429, 500, 502, 503]) | st.integers(
    100, 599
)
plausible = st.builds(
    lambda usage, chat_id, model: {
        "id": chat_id,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "data": [{"index": 0, "b64_json": "aGk=", "embedding": [0.5]}],
        "text": "hi",
        "usage": usage,
    },
    st.dictionaries(usage_keys, st.integers(-5, 2**70) | st.just("duration"), max_size=4) | usages,
    st.text(max_size=10),
    st.text(max_size=10),
)
answers = st.one_of(
    st.builds(lambda status, headers, body: (status, headers, body), statuses, response_headers, bodies),
    # a 200 with a JSON object of any shape, or of nearly the right one: where typed results are parsed
    st.builds(lambda headers, body: (200, headers, json.dumps(body).encode()), response_headers, shaped | plausible),
)


def http_result(answer: tuple[int, dict[str, str], bytes], authorization: str) -> HttpResult:
    status, headers, body = answer
    return HttpResult(status, httpx.Headers(headers), body.replace(TOKEN_PLACEHOLDER, authorization.encode()))


# --------------------------------------------------------------------------- driving flows by hand


class Driver:
    """Runs a flow like ``SyncRunner`` does, answering its I/O from a script; records every request."""

    def __init__(self, answer: Callable[[Http], HttpResult], limit: int = 40) -> None:
        self.answer = answer
        self.limit = limit
        self.ops: list[Any] = []

    def run(self, flow: Generator[Any, Any, Any]) -> Any:
        result: Any = None
        error: BaseException | None = None
        for _ in range(self.limit):
            try:
                op = flow.throw(error) if error is not None else flow.send(result)
            except StopIteration as stop:
                return stop.value
            self.ops.append(op)
            result, error = None, None
            if isinstance(op, Http):
                try:
                    result = self.answer(op)
                except Exception as exc:  # e.g. a transport error: thrown into the flow like the runner does
                    error = exc
            elif not isinstance(op, Sleep):
                raise AssertionError(f"unexpected I/O {op!r}: the caches should make it unnecessary")
        raise AssertionError(f"the flow is still running after {self.limit} I/O requests: {self.ops[-4:]}")

    @property
    def requests(self) -> list[Http]:
        return [op for op in self.ops if isinstance(op, Http)]

    @property
    def sleeps(self) -> list[float]:
        return [op.seconds for op in self.ops if isinstance(op, Sleep)]


def check_provider_error(error: ZeroGError, authorization: str) -> None:
    """A typed error names the provider and never carries our session token."""
    token = authorization.removeprefix("Bearer ").removeprefix("app-sk-")
    assert str(error)
    assert token not in str(error)
    if isinstance(error, ProviderError):
        assert error.provider in (None, PROVIDER)
        assert token not in (error.body or "")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(sorted(ROUTES)), script=st.lists(answers, min_size=1, max_size=4))
def test_complete_gives_a_result_or_a_typed_error(route: str, script: list[tuple[int, dict[str, str], bytes]]) -> None:
    service_type, payload, files = ROUTES[route]
    ctx = warm(Context(NETWORK, WALLET, verification="off"), service_type)
    queue = list(script)

    def answer(op: Http) -> HttpResult:
        return http_result(queue.pop(0) if len(queue) > 1 else queue[0], op.headers["Authorization"])

    driver = Driver(answer)
    try:
        done = driver.run(direct.complete(ctx, Call(route, payload, provider=PROVIDER, files=files)))
    except ZeroGError as error:
        event(type(error).__name__)
        check_provider_error(error, driver.requests[0].headers["Authorization"])
        done = None
    # bounded: at most 1 + max_retries requests, and only sane waits in between (429 → Sleep)
    assert 1 <= len(driver.requests) <= ctx.max_retries + 1
    assert all(math.isfinite(s) and 0 <= s <= MAX_RETRY_AFTER_S for s in driver.sleeps)
    if done is not None:
        assert isinstance(done, Completed) and isinstance(done.data, dict)
        record = done.record
        assert record.provider == PROVIDER and record.service_type == service_type
        assert isinstance(record.fee, int) and record.fee >= 0
        assert units.format_0g(record.fee).endswith(" 0G")
        assert record.input_tokens is None or isinstance(record.input_tokens, int)
        assert record.output_tokens is None or isinstance(record.output_tokens, int)


@pytest.mark.parametrize("body", DEEP)
@pytest.mark.parametrize("status", [200, 400, 429, 500])
def test_deeply_nested_json_bodies_give_typed_errors(body: str, status: int) -> None:
    ctx = warm(Context(NETWORK, WALLET, verification="off"), "chatbot")
    driver = Driver(lambda op: HttpResult(status, httpx.Headers({"Retry-After": "0"}), body.encode()))
    try:
        driver.run(direct.complete(ctx, Call("/chat/completions", ROUTES["/chat/completions"][1], provider=PROVIDER)))
    except ZeroGError as error:
        check_provider_error(error, driver.requests[0].headers["Authorization"])
    else:
        assert status == 200 and body.startswith("{")


HUGE_NESTING_SCRIPT = """
import httpx
from tests.hardening.test_properties import *
from zerog_compute import http_errors, services, signatures
from zerog_compute.verification import check_attestation

deep = "[" * 200_000 + "]" * 200_000  # beyond the 100000 recursion limit py_ecc sets: a C stack overflow
body = deep.encode()
for status in (200, 400, 429, 503):
    ctx = warm(Context(NETWORK, WALLET, verification="off"), "chatbot")
    try:
        Driver(lambda op: HttpResult(status, httpx.Headers({}), body)).run(
            direct.complete(ctx, Call("/chat/completions", ROUTES["/chat/completions"][1], provider=PROVIDER))
        )
    except ZeroGError:
        pass
state = StreamState(prepared())
state.feed(b"data: " + body + b"\\n\\ndata: [DONE]\\n\\n")
assert state.accumulator.malformed == 1
svc = service(additional_info=deep)
assert svc.info == {} and expected_signer(svc) is None and verifiability_problem(svc)
assert check_attestation(deep, tee_signer_address=TEE).matches is False
verdict = Driver(lambda op: HttpResult(200, httpx.Headers({}), body)).run(signatures.verify(svc, "c1", b"", b""))
assert verdict.verdict.value == "not_verifiable"
ctx = warm(Context(NETWORK, WALLET), "chatbot")
try:
    Driver(lambda op: HttpResult(200, httpx.Headers({}), body)).run(services.list_models(ctx, PROVIDER))
except ZeroGError:
    pass
assert isinstance(http_errors.provider_error(400, body, {}, PROVIDER), ZeroGError)
assert isinstance(http_errors.router_error(400, body, {}), ZeroGError)
print("survived")
"""


def test_json_nested_beyond_the_recursion_limit_does_not_crash_the_process() -> None:
    """py_ecc (imported by eth-account) raises the recursion limit to 100000, so ``json.loads`` of a body
    nested 200000 deep overflows the C stack (SIGSEGV) instead of raising RecursionError. Every parser of
    provider JSON must refuse such a body first. Run in a subprocess: a regression kills only that process.
    """
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", HUGE_NESTING_SCRIPT], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert "survived" in done.stdout


# --------------------------------------------------------------------------- the clients, end to end


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body delivered in the given pieces."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def handler(
    answer: tuple[int, dict[str, str], bytes], signature: tuple[int, dict[str, str], bytes], cuts: list[int]
) -> Callable[[httpx.Request], httpx.Response]:
    """Provider stand-in: POST gets ``answer`` (in pieces), GET (the signature endpoint) gets ``signature``."""

    def respond(request: httpx.Request) -> httpx.Response:
        status, headers, body = answer if request.method == "POST" else signature
        body = body.replace(TOKEN_PLACEHOLDER, request.headers.get("Authorization", "").encode())
        return httpx.Response(status, headers=headers, stream=Chunks(split(body, cuts)))

    return respond


def call_sync(zg: ZeroG, route: str, stream: bool) -> Any:
    if route == "/chat/completions":
        messages = [{"role": "user", "content": "hi"}]
        if stream:
            return list(zg.chat.completions.create(provider=PROVIDER, messages=messages, stream=True))
        return zg.chat.completions.create(provider=PROVIDER, messages=messages)
    if route == "/embeddings":
        return zg.embeddings.create(provider=PROVIDER, input="hi")
    if route == "/images/generations":
        return zg.images.generate(provider=PROVIDER, prompt="a cat", n=2)
    return zg.audio.transcriptions.create(provider=PROVIDER, file=b"RIFF")


async def call_async(zg: AsyncZeroG, route: str, stream: bool) -> Any:
    if route == "/chat/completions":
        messages = [{"role": "user", "content": "hi"}]
        if stream:
            chunks = await zg.chat.completions.create(provider=PROVIDER, messages=messages, stream=True)
            return [chunk async for chunk in chunks]
        return await zg.chat.completions.create(provider=PROVIDER, messages=messages)
    if route == "/embeddings":
        return await zg.embeddings.create(provider=PROVIDER, input="hi")
    if route == "/images/generations":
        return await zg.images.generate(provider=PROVIDER, prompt="a cat", n=2)
    return await zg.audio.transcriptions.create(provider=PROVIDER, file=b"RIFF")


def check_outcome(outcome: Any, stream: bool) -> ZeroGRecord | None:
    """A typed result with a sane record (the last chunk of a stream carries it); returns the record."""
    if stream:
        assert isinstance(outcome, list) and all(isinstance(chunk, ChatCompletionChunk) for chunk in outcome)
        if not outcome:
            return None
        record = outcome[-1].zerog
    else:
        record = outcome.zerog
    assert isinstance(record, ZeroGRecord) and record.provider == PROVIDER
    assert isinstance(record.fee, int) and record.fee >= 0
    return record


sse_streams = st.lists(
    st.one_of(
        shaped.map(lambda doc: b"data: " + json.dumps(doc).encode() + b"\n\n"),
        st.builds(
            lambda text, usage: (
                b"data: "
                + json.dumps(
                    {"id": "c1", "choices": [{"index": 0, "delta": {"content": text}}], "usage": usage}
                ).encode()
                + b"\n\n"
            ),
            st.text(max_size=8),
            st.none() | usages,
        ),
        st.just(b"data: [DONE]\n\n"),
        st.binary(max_size=30),
    ),
    max_size=6,
).map(b"".join) | st.builds(  # nearly right: text chunks, a usage chunk, [DONE]
    lambda texts, usage: (
        b"".join(
            b"data: " + json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {"content": t}}]}).encode() + b"\n\n"
            for t in texts
        )
        + b"data: "
        + json.dumps({"id": "c1", "choices": [], "usage": usage}).encode()
        + b"\n\ndata: [DONE]\n\n"
    ),
    st.lists(st.text(max_size=5), max_size=4),
    usages,
)
routes_and_modes = st.sampled_from(
    [(route, False) for route in sorted(ROUTES)] + [("/chat/completions", True), ("/chat/completions", True)]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    route_mode=routes_and_modes,
    answer=answers,
    stream_body=sse_streams,
    signature=answers,
    policy=st.sampled_from(["off", "warn", "enforce"]),
    cuts=st.lists(st.integers(0, 300), max_size=4),
)
def test_sync_client_gives_a_typed_result_or_a_typed_error(
    route_mode: tuple[str, bool],
    answer: tuple[int, dict[str, str], bytes],
    stream_body: bytes,
    signature: tuple[int, dict[str, str], bytes],
    policy: Any,
    cuts: list[int],
) -> None:
    route, stream = route_mode
    if stream and answer[0] == 200:
        answer = (200, answer[1], stream_body)
    transport = httpx.MockTransport(handler(answer, signature, cuts))
    with ZeroG(
        private_key=KEY,
        network=NETWORK,
        verification=policy,
        rate_limit=None,
        http_client=httpx.Client(transport=transport),
    ) as zg:
        warm(zg._ctx, ROUTES[route][0])
        try:
            outcome = call_sync(zg, route, stream)
        except ZeroGError as error:
            event(type(error).__name__)
            assert str(error)
        else:
            event(f"result ({route}, stream={stream})")
            record = check_outcome(outcome, stream)
            if record is not None and policy != "off":
                assert isinstance(record.verdict(timeout=30), VerificationResult)  # the background check never raises
    assert zg.rpc_calls == 0


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    route_mode=routes_and_modes,
    answer=answers,
    stream_body=sse_streams,
    signature=answers,
    policy=st.sampled_from(["off", "warn", "enforce"]),
    cuts=st.lists(st.integers(0, 300), max_size=4),
)
def test_async_client_gives_a_typed_result_or_a_typed_error(
    route_mode: tuple[str, bool],
    answer: tuple[int, dict[str, str], bytes],
    stream_body: bytes,
    signature: tuple[int, dict[str, str], bytes],
    policy: Any,
    cuts: list[int],
) -> None:
    route, stream = route_mode
    if stream and answer[0] == 200:
        answer = (200, answer[1], stream_body)

    async def scenario() -> None:
        transport = httpx.MockTransport(handler(answer, signature, cuts))
        async with AsyncZeroG(
            private_key=KEY,
            network=NETWORK,
            verification=policy,
            rate_limit=None,
            http_client=httpx.AsyncClient(transport=transport),
        ) as zg:
            warm(zg._ctx, ROUTES[route][0])
            try:
                outcome = await call_async(zg, route, stream)
            except ZeroGError as error:
                assert str(error)
            else:
                record = check_outcome(outcome, stream)
                if record is not None and policy != "off":
                    assert isinstance(await record.averdict(), VerificationResult)
        assert zg.rpc_calls == 0

    asyncio.run(scenario())


WRONG_SHAPES = [
    {"choices": 5},
    {"choices": [{"message": "text"}]},
    {"data": 5},
    {"data": [1, 2]},
    {"text": ["a"]},
    {"usage": {"prompt_tokens": "many"}, "choices": [], "data": []},
    {"zerog": 5},
    {"created": "yesterday"},
]


@pytest.mark.parametrize("body", WRONG_SHAPES, ids=json.dumps)
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_200_of_the_wrong_shape_is_a_provider_error(route: str, body: dict[str, Any]) -> None:
    answer = (200, {}, json.dumps(body).encode())
    transport = httpx.MockTransport(handler(answer, (404, {}, b""), []))
    with ZeroG(
        private_key=KEY,
        network=NETWORK,
        verification="off",
        rate_limit=None,
        http_client=httpx.Client(transport=transport),
    ) as zg:
        warm(zg._ctx, ROUTES[route][0])
        try:
            check_outcome(call_sync(zg, route, False), False)
        except ProviderError as error:
            assert error.provider == PROVIDER and "not a valid" in str(error) and "retry" in str(error)

    async def scenario() -> None:
        async with AsyncZeroG(
            private_key=KEY,
            network=NETWORK,
            verification="off",
            rate_limit=None,
            http_client=httpx.AsyncClient(transport=transport),
        ) as azg:
            warm(azg._ctx, ROUTES[route][0])
            try:
                check_outcome(await call_async(azg, route, False), False)
            except ProviderError as error:
                assert error.provider == PROVIDER and "not a valid" in str(error)

    asyncio.run(scenario())


# --------------------------------------------------------------------------- streamed bodies: StreamState


def prepared() -> Prepared:
    svc = service()
    body = json.dumps({"model": svc.model, "messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()
    return Prepared(svc, "/chat/completions", svc.endpoint + "/chat/completions", {}, body, svc.model)


@settings(max_examples=200, deadline=None)
@given(
    data=sse_streams | st.binary(max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    headers=response_headers,
)
def test_stream_state_gives_chunks_or_a_typed_error(data: bytes, cuts: list[int], headers: dict[str, str]) -> None:
    state = StreamState(prepared())
    state.start(httpx.Headers(headers))
    chunks: list[ChatCompletionChunk] = []
    try:
        for piece in split(data, cuts):
            chunks += state.feed(piece)
        last, record = state.finish()
    except ZeroGError as error:
        assert str(error)
        return
    chunks += last
    assert record.provider == PROVIDER and isinstance(record.fee, int) and record.fee >= 0
    if chunks:
        assert chunks[-1].zerog is record
    text = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices if c.index == 0)
    assert text == state.accumulator.content


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), cause=st.sampled_from([ConnectionError("reset"), TimeoutError(), OSError()]))
def test_stream_interruption_is_always_typed(data: bytes, cause: BaseException) -> None:
    state = StreamState(prepared())
    try:
        state.feed(data)
    except ZeroGError:
        return
    error = state.interrupted(cause)
    assert isinstance(error, ZeroGError) and error.provider == PROVIDER and str(error)


# --------------------------------------------------------------------------- the devnet broker's session tokens

DEV_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
DEV_USER = Account.from_key(DEV_KEY).address
token_keys = st.sampled_from(
    ["address", "provider", "timestamp", "expiresAt", "nonce", "generation", "tokenId", "ADDRESS", "TokenID", "x"]
)
token_docs = st.one_of(
    st.dictionaries(token_keys, json_values | st.just(PROVIDER) | st.just(DEV_USER) | st.just(255), max_size=7).map(
        json.dumps
    ),
    json_values.map(json.dumps),
    st.text(max_size=40),
    # integers too long for Python's int() (4300 digits), and Go-range edges
    st.builds(
        lambda key, digits: f'{{"{key}": {digits}}}',
        st.sampled_from(["timestamp", "expiresAt", "generation", "tokenId"]),
        st.sampled_from(["1" * 5000, "-" + "9" * 4400, "18446744073709551616", "-9223372036854775809", "256", "1e3"]),
    ),
    st.sampled_from(DEEP + ['{"address":' + DEEP_ARRAY + "}"]),
)
signature_texts = st.text(alphabet="0123456789abcdefABCDEFxX", max_size=140) | st.text(max_size=20)


def sign_raw(raw: bytes) -> str:
    return "0x" + bytes(Account.sign_message(encode_defunct(primitive=keccak(raw)), DEV_KEY).signature).hex()


def authorization(raw: bytes, signature: str) -> str:
    return "Bearer app-sk-" + base64.b64encode(raw + b"|" + signature.encode()).decode()


header_texts = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.text(st.characters(max_codepoint=0xFF), max_size=80).map(lambda t: "Bearer app-sk-" + t),
    st.binary(max_size=120).map(lambda b: "Bearer app-sk-" + base64.b64encode(b).decode()),
    st.builds(lambda doc, sig: authorization(doc.encode("utf-8", "surrogatepass"), sig), token_docs, signature_texts),
    token_docs.map(lambda doc: authorization(doc.encode(), sign_raw(doc.encode()))),  # well signed, odd content
)
accounts = st.none() | st.builds(AccountState, st.integers(0, 2**70), st.integers(0, 2**256 - 1))


@settings(max_examples=300, deadline=2000)
@given(header=header_texts, account=accounts, now_ms=st.integers(0, 2**63))
@example(header=authorization(("[" * 5000).encode(), "0x00"), account=None, now_ms=0)
@example(header=authorization(b'{"timestamp":' + b"1" * 5000 + b"}", "0x00"), account=None, now_ms=0)
def test_broker_session_validation_raises_only_session_errors(
    header: str | None, account: AccountState | None, now_ms: int
) -> None:
    try:
        token = parse_authorization(header)
    except SessionError as error:
        assert error.message
    else:
        assert isinstance(token, SessionToken)
    try:
        validate_session(header, provider_address=PROVIDER, now_ms=now_ms, account_lookup=lambda _user: account)
    except SessionError as error:
        assert error.message


# --------------------------------------------------------------------------- additionalInfo JSON

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
info_documents = st.fixed_dictionaries(
    {},
    optional={
        "TargetSeparated": json_values | st.just(True),
        "TargetTeeAddress": json_values | addresses,
        "ProviderType": json_values | st.sampled_from(["centralized", "decentralized"]),
    },
)
info_texts = st.one_of(
    st.text(max_size=60),
    json_values.map(json.dumps),
    info_documents.map(json.dumps),
    st.sampled_from(DEEP),
)


@fast
@given(
    info=info_texts,
    verifiability=st.sampled_from(["TeeML", "OpML", "ZKML", ""]) | st.text(max_size=8),
    acknowledged=st.booleans(),
    tee=addresses | st.text(max_size=44),
)
def test_additional_info_never_raises(info: str, verifiability: str, acknowledged: bool, tee: str) -> None:
    svc = service(
        additional_info=info, verifiability=verifiability, tee_signer_acknowledged=acknowledged, tee_signer_address=tee
    )
    assert isinstance(svc.info, dict)
    assert isinstance(svc.verifiable, bool)
    problem = verifiability_problem(svc)
    assert problem is None or isinstance(problem, str)
    signer = expected_signer(svc)
    assert signer is None or (signer.startswith("0x") and len(signer) == 42)
    result = evaluate(service=svc, chat_id="chat-1", signature_payload=None, request_body=b"{}", response_body=b"{}")
    assert isinstance(result, VerificationResult) and result.detail


@fast
@given(
    fields=st.dictionaries(
        st.sampled_from(["additional_info", "verifiability", "tee_signer_acknowledged", "tee_signer_address"]),
        json_values | info_texts,
    )
)
def test_verification_rules_accept_any_mapping(fields: dict[str, Any]) -> None:
    problem = verifiability_problem(fields)
    assert problem is None or isinstance(problem, str)
    signer = expected_signer(fields)
    assert signer is None or isinstance(signer, str)


# --------------------------------------------------------------------------- amounts


class Neuron(IntEnum):
    ONE = 1


class Text(str):
    pass


class Dec(Decimal):
    pass


extreme_decimals = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=30),
    st.integers(-(10**6), 10**6),
)


@settings(max_examples=300, deadline=1000)
@given(
    amount=st.one_of(
        extreme_decimals,
        st.decimals(),
        st.sampled_from([Decimal("sNaN"), Decimal("-NaN"), Decimal("-Infinity"), Decimal("-0"), Decimal("0E-50")]),
        st.builds(Text, st.text(max_size=30)),
        st.builds(Dec, st.decimals(allow_nan=False)),
        st.just(Neuron.ONE),
        st.text(alphabet="0123456789.eE+- \t\n0G٣１", max_size=30),
        st.integers(min_value=-(2**300), max_value=2**300),
        st.floats(),
        st.binary(max_size=4),
        st.none(),
    ),
    allow_zero=st.booleans(),
)
@example(amount=Decimal("0E+5000"), allow_zero=True)
@example(amount=Decimal("-0E+5000"), allow_zero=True)
@example(amount=Decimal("0E+999999999"), allow_zero=True)  # must not build a billion-digit string
def test_to_neuron_gives_an_exact_int_or_a_configuration_error(amount: Any, allow_zero: bool) -> None:
    try:
        neuron = units.to_neuron(amount, name="budget", allow_zero=allow_zero)
    except ConfigurationError as error:
        assert "budget" in str(error)
        return
    assert isinstance(neuron, int) and 0 <= neuron <= units.MAX_NEURON and (allow_zero or neuron > 0)
    assert units.to_neuron(units.to_0g(int(neuron)), allow_zero=True) == neuron


@settings(max_examples=300, deadline=None)
@given(neuron=st.integers(min_value=-units.MAX_NEURON, max_value=units.MAX_NEURON // 2), places=st.integers(0, 60))
def test_format_with_places_rounds_half_up_and_round_trips(neuron: int, places: int) -> None:
    text = units.format_0g(neuron, places)
    number, unit = text.split(" ")
    assert unit == "0G" and (places == 0 or len(number.split(".")[1]) == places)
    if neuron < 0:
        return
    parsed = units.to_neuron(text, allow_zero=True)
    if places >= units.DECIMALS:
        assert parsed == neuron
    else:
        step = 10 ** (units.DECIMALS - places)
        assert parsed % step == 0 and -step // 2 < parsed - neuron <= step // 2


@fast
@given(
    value=st.one_of(st.floats(), st.decimals(), st.text(max_size=5), st.booleans(), st.none(), st.lists(st.integers())),
    places=st.one_of(st.none(), st.integers(-5, 5), st.floats(), st.booleans(), st.text(max_size=3)),
)
def test_to_0g_and_format_0g_refuse_non_ints_with_configuration_error(value: Any, places: Any) -> None:
    with pytest.raises(ConfigurationError):
        units.to_0g(value)
    with pytest.raises(ConfigurationError):
        units.format_0g(value)
    try:
        assert units.format_0g(10**18, places).endswith(" 0G")
    except ConfigurationError as error:
        assert "places" in str(error)
