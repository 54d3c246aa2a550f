"""Router mode of zerog-compute against the devnet's Router emulator: same calls, same records, typed errors."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from zerog_compute import (
    AsyncZeroG,
    ChatCompletion,
    ConfigurationError,
    InsufficientBalanceError,
    InvalidTokenError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ServiceNotFoundError,
    StreamInterruptedError,
    Verdict,
    VerificationError,
    ZeroG,
    ZeroGError,
)
from zerog_compute.ratelimit import RateLimit
from zerog_devnet import Devnet
from zerog_devnet.media import silent_wav as wav

from .conftest import devnet_network, expected_chat_fee

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
CHAT = ("chat-a", "chat-b", "chat-c")


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZG_PRIVATE_KEY", "ZG_ROUTER_API_KEY", "ZG_ROUTER_URL", "ZG_ROUTER_MANAGEMENT_KEY", "ZG_NETWORK"):
        monkeypatch.delenv(name, raising=False)


def router_client(net: Devnet, key: str | None = None, **config: Any) -> ZeroG:
    return ZeroG(router_api_key=key or net.router.api_keys[0], router_url=net.router.url, **config)


@pytest.fixture
def rzg(devnet: Devnet) -> Iterator[ZeroG]:
    with router_client(devnet) as client:
        yield client


@pytest.fixture
async def arzg(devnet: Devnet) -> AsyncIterator[AsyncZeroG]:
    async with AsyncZeroG(router_api_key=devnet.router.api_keys[1], router_url=devnet.router.url) as client:
        yield client


def model(net: Devnet, name: str = "chat-a") -> str:
    return net.provider(name).info.model


def address(net: Devnet, name: str) -> str:
    return net.provider(name).info.address


def name_of(net: Devnet, provider: str) -> str:
    return next(p.name for p in net.providers if p.address == provider)


# ------------------------------------------------------------------------------------------------- results


def test_chat_completion_has_a_router_record(rzg: ZeroG, devnet: Devnet) -> None:
    key = devnet.router.api_keys[0]
    before = devnet.router.balance(key)
    reply = rzg.chat.completions.create(model=model(devnet), messages=ASK)
    assert reply.choices[0].message.content == "2 + 3 = 5"
    record = reply.zerog
    assert record is not None and rzg.backend == "router"
    served = name_of(devnet, record.provider)
    assert served in CHAT and record.model == model(devnet) and record.service_type == "chatbot"
    assert record.chat_id and reply.id == f"chatcmpl-{record.chat_id}"
    assert record.fee == expected_chat_fee(devnet, reply.usage, served) > 0
    assert record.fee == before - devnet.router.balance(key)  # what the Router billed the key
    assert record.input_tokens == reply.usage.prompt_tokens and record.latency_ms is not None
    result = record.verdict()
    assert result.verdict is Verdict.verified and "Router" in result.detail and result.chat_id == record.chat_id
    extra = record.model_dump()
    assert extra["backend"] == "router" and extra["request_id"].startswith("req-") and extra["fee_note"] is None
    assert extra["billing"]["total_cost"] == record.fee and extra["fee_estimated"] is False
    assert extra["billing"]["input_cost"] + extra["billing"]["output_cost"] == record.fee


def test_stream_yields_chunks_and_a_final_record(rzg: ZeroG, devnet: Devnet) -> None:
    chunks = list(rzg.chat.completions.create(model=model(devnet), messages=ASK, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "2 + 3 = 5"
    assert all(c.zerog is None for c in chunks[:-1]) and not any("x_0g_trace" in c.model_dump() for c in chunks)
    record = chunks[-1].zerog
    assert record is not None and chunks[-1].usage is not None
    assert record.fee == expected_chat_fee(devnet, chunks[-1].usage, name_of(devnet, record.provider))
    assert record.chat_id and record.verdict().verdict is Verdict.verified


@pytest.mark.anyio
async def test_async_client_plain_and_stream(arzg: AsyncZeroG, devnet: Devnet) -> None:
    reply = await arzg.chat.completions.create(model=model(devnet), messages=ASK)
    assert reply.zerog is not None and (await reply.zerog.averdict()).verdict is Verdict.verified
    pin = address(devnet, "chat-c")
    stream = await arzg.chat.completions.create(model=model(devnet), messages=ASK, stream=True, provider=pin)
    chunks = [chunk async for chunk in stream]
    record = chunks[-1].zerog
    assert record is not None and record.provider == pin
    assert record.fee == expected_chat_fee(devnet, chunks[-1].usage, "chat-c")
    with pytest.raises(ConfigurationError, match="Direct mode"):
        await arzg.embeddings.create(model=model(devnet, "embed"), input="hello")
    with pytest.raises(ServiceNotFoundError):
        await arzg.chat.completions.create(model="no/such-model", messages=ASK)


def test_media_carry_records_with_the_billed_fee(devnet: Devnet) -> None:
    image, speech = (devnet.provider(n).info for n in ("image", "speech"))
    key = devnet.router.api_keys[0]
    with router_client(devnet, key, verification="enforce") as zg:
        before = devnet.router.balance(key)
        pictures = zg.images.generate(model=image.model, prompt="a red square", n=2)  # no format: b64_json
        assert pictures.zerog is not None and pictures.zerog.fee == 2 * image.output_price
        assert pictures.zerog.fee == before - devnet.router.balance(key) and pictures.data[0].b64_json
        assert pictures.zerog.verdict().verdict is Verdict.verified
        before = devnet.router.balance(key)
        text = zg.audio.transcriptions.create(model=speech.model, file=("hello.wav", wav(2.0)))  # enforce: verified
        assert text.zerog is not None and text.zerog.provider == speech.address and text.zerog.fee > 0
        assert text.zerog.fee == before - devnet.router.balance(key)
        assert text.zerog.model_dump()["billing"]["total_cost"] == text.zerog.fee
        assert text.zerog.verdict().verdict is Verdict.verified


# ------------------------------------------------------------------------------------------------- routing


def test_provider_pins_and_the_model_can_come_from_the_pin(rzg: ZeroG, devnet: Devnet) -> None:
    for name in CHAT:
        reply = rzg.chat.completions.create(model=model(devnet), provider=address(devnet, name).lower(), messages=ASK)
        assert reply.zerog is not None and reply.zerog.provider == address(devnet, name)
    inferred = rzg.chat.completions.create(provider=address(devnet, "chat-b"), messages=ASK)
    assert inferred.zerog is not None and inferred.zerog.model == model(devnet)
    with pytest.raises(ConfigurationError, match="model="):
        rzg.chat.completions.create(messages=ASK)
    with pytest.raises(ConfigurationError, match="0x address"):
        rzg.chat.completions.create(model=model(devnet), provider="chat-a", messages=ASK)


def test_extra_headers_and_pools_steer_the_router(rzg: ZeroG, devnet: Devnet) -> None:
    headers = {"X-0G-Provider-Sort": "price"}
    reply = rzg.chat.completions.create(model=model(devnet), messages=ASK, extra_headers=headers)
    assert reply.zerog is not None and reply.zerog.provider == address(devnet, "chat-b")
    pool = rzg.pool(model=model(devnet), strategy="price")
    pooled = pool.chat.completions.create(messages=ASK)
    assert pooled.zerog is not None and pooled.zerog.provider == address(devnet, "chat-b")
    streamed = list(pool.chat.completions.create(messages=ASK, stream=True))
    assert streamed[-1].zerog is not None and streamed[-1].zerog.provider == address(devnet, "chat-b")


def test_pool_options_the_router_cannot_apply_are_refused(rzg: ZeroG, devnet: Devnet) -> None:
    for options in ({"deny": [address(devnet, "chat-b")]}, {"strategy": "round_robin"}, {"verifiable_only": True}):
        pool = rzg.pool(model=model(devnet), **options)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="cannot apply"):
            pool.chat.completions.create(messages=ASK)


def test_failover_across_a_faulty_provider(rzg: ZeroG, devnet: Devnet) -> None:
    devnet.provider("chat-a").faults.set(http_status=502)
    for _ in range(3):
        reply = rzg.chat.completions.create(model=model(devnet), messages=ASK)
        assert reply.zerog is not None and reply.zerog.provider != address(devnet, "chat-a")
    streamed = list(rzg.chat.completions.create(model=model(devnet), messages=ASK, stream=True))
    assert streamed[-1].zerog is not None and streamed[-1].zerog.provider != address(devnet, "chat-a")


# ------------------------------------------------------------------------------------------------- errors


def test_router_errors_are_typed(rzg: ZeroG, devnet: Devnet) -> None:
    chat_model = model(devnet)
    with pytest.raises(ServiceNotFoundError, match="no/such-model"):
        rzg.chat.completions.create(model="no/such-model", messages=ASK)
    devnet.provider("chat-a").faults.set(http_status=502)
    with pytest.raises(ProviderUnavailableError, match="provider_error") as failed:
        rzg.chat.completions.create(model=chat_model, provider=address(devnet, "chat-a"), messages=ASK)
    assert failed.value.status_code == 502 and failed.value.provider == address(devnet, "chat-a")
    with pytest.raises(RequestRejectedError, match="invalid_provider_header"):
        rzg.chat.completions.create(model=chat_model, messages=ASK, extra_headers={"X-0G-Provider-Sort": "x"})
    with pytest.raises(RequestRejectedError, match="invalid_body"):
        rzg.chat.completions.create(model=model(devnet, "embed"), messages=ASK)
    for name in CHAT:
        devnet.provider(name).stop()
    with pytest.raises(ProviderUnavailableError, match="no_available_provider") as down:
        list(rzg.chat.completions.create(model=chat_model, messages=ASK, stream=True))
    assert down.value.status_code == 503


def test_balance_and_key_errors(devnet: Devnet) -> None:
    empty = devnet.router.create_key(balance=0)
    with router_client(devnet, empty) as zg, pytest.raises(InsufficientBalanceError, match="pc.0g.ai"):
        zg.chat.completions.create(model=model(devnet), messages=ASK)
    with router_client(devnet, "sk-not-a-real-key") as zg, pytest.raises(InvalidTokenError) as invalid:
        zg.chat.completions.create(model=model(devnet), messages=ASK)
    assert invalid.value.status_code == 401 and "invalid_api_key" in str(invalid.value)
    revoked = devnet.router.create_key()
    devnet.router.revoke(revoked)
    with router_client(devnet, revoked) as zg, pytest.raises(InvalidTokenError, match="api_key_revoked"):
        list(zg.chat.completions.create(model=model(devnet), messages=ASK, stream=True))
    with router_client(devnet) as zg:
        with pytest.raises(ConfigurationError, match="insufficient_scope"):
            zg.router.balance()
        with pytest.raises(ConfigurationError, match="insufficient_scope"):
            zg.router.balance(devnet.router.api_keys[0])
    with router_client(devnet, devnet.router.management_keys[0]) as zg, pytest.raises(ConfigurationError):
        zg.chat.completions.create(model=model(devnet), messages=ASK)


def test_rate_limits_raise_with_retry_after_or_are_retried(devnet: Devnet) -> None:
    devnet.router.faults.set(http_status=429)
    with router_client(devnet, rate_limit=RateLimit(max_retries=0)) as zg, pytest.raises(RateLimitedError) as limited:
        zg.chat.completions.create(model=model(devnet), messages=ASK)
    assert limited.value.retry_after == 1.0
    timer = threading.Timer(0.3, devnet.router.faults.clear)
    timer.start()
    try:
        with router_client(devnet, rate_limit=RateLimit(max_retries=2)) as zg:
            reply = zg.chat.completions.create(model=model(devnet), messages=ASK)  # waits Retry-After, then passes
        assert reply.choices[0].message.content == "2 + 3 = 5"
    finally:
        timer.cancel()


def test_an_unreachable_router_and_a_broken_stream(devnet: Devnet) -> None:
    with ZeroG(router_api_key="sk-x-12345678", router_url="http://127.0.0.1:9/v1") as zg:
        with pytest.raises(ProviderUnavailableError, match="0G Router at http://127.0.0.1:9/v1"):
            zg.chat.completions.create(model="m", messages=ASK)
        with pytest.raises(ProviderUnavailableError, match="0G Router"):
            list(zg.chat.completions.create(model="m", messages=ASK, stream=True))
    devnet.provider("chat-a").faults.set(stream_cut_after=2)
    with router_client(devnet) as zg, pytest.raises(StreamInterruptedError) as cut:
        list(
            zg.chat.completions.create(
                model=model(devnet), provider=address(devnet, "chat-a"), messages=ASK, stream=True
            )
        )
    assert cut.value.received >= 1 and cut.value.text


# ------------------------------------------------------------------------------------------------- verification


def test_verification_policies_map_the_routers_trace(devnet: Devnet, caplog: pytest.LogCaptureFixture) -> None:
    pin = address(devnet, "chat-a")
    with router_client(devnet, verification="off") as zg:
        reply = zg.chat.completions.create(model=model(devnet), provider=pin, messages=ASK)
        assert reply.zerog is not None and reply.zerog.verdict().verdict is Verdict.skipped
        assert "x_0g_trace" not in reply.model_dump()  # the trace is on the record, not on the result
    devnet.provider("chat-a").faults.set(wrong_signature=True)
    with router_client(devnet, verification="warn") as zg, caplog.at_level(logging.WARNING):
        reply = zg.chat.completions.create(model=model(devnet), provider=pin, messages=ASK)
        assert reply.zerog is not None
        result = reply.zerog.verdict()
        assert result.verdict is Verdict.invalid_signature and "Router" in result.detail
    assert "invalid_signature" in caplog.text
    with router_client(devnet, verification="enforce") as zg:
        with pytest.raises(VerificationError):
            zg.chat.completions.create(model=model(devnet), provider=pin, messages=ASK)
        with pytest.raises(VerificationError):
            list(zg.chat.completions.create(model=model(devnet), provider=pin, messages=ASK, stream=True))
    devnet.provider("chat-a").faults.clear()
    devnet.router.faults.set(omit_trace=True)
    with router_client(devnet) as zg:
        reply = zg.chat.completions.create(model=model(devnet), messages=ASK)
        assert reply.zerog is not None and reply.zerog.verdict().verdict is Verdict.unavailable
        extra = reply.zerog.model_dump()  # no trace, no billing: the fee is estimated from the listings
        assert extra["fee_estimated"] is True and extra["fee_note"].startswith("estimate") and reply.zerog.fee > 0


# ------------------------------------------------------------------------------------------------- both backends


def ask(zg: ZeroG, provider: str, chat_model: str) -> tuple[ChatCompletion, str]:
    """User code that does not know which backend it runs on."""
    reply = zg.chat.completions.create(provider=provider, model=chat_model, messages=ASK)
    streamed = zg.chat.completions.create(provider=provider, model=chat_model, messages=ASK, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    return reply, text


def test_the_same_code_runs_in_direct_and_router_mode(zg: ZeroG, devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-b"])
    provider, chat_model = address(devnet, "chat-b"), model(devnet)
    with router_client(devnet) as router_zg:
        results = {client.backend: ask(client, provider, chat_model) for client in (zg, router_zg)}
    assert set(results) == {"direct", "router"}
    (direct, direct_text), (routed, routed_text) = results["direct"], results["router"]
    assert direct_text == routed_text == direct.choices[0].message.content == routed.choices[0].message.content
    for reply in (direct, routed):
        assert reply.zerog is not None and reply.zerog.provider == provider and reply.zerog.chat_id
        assert reply.zerog.fee == expected_chat_fee(devnet, reply.usage, "chat-b") > 0
        assert reply.zerog.verdict(timeout=10).verdict is Verdict.verified
    assert direct.zerog is not None and routed.zerog is not None and direct.zerog.fee == routed.zerog.fee


# ------------------------------------------------------------------------------------------------- configuration


def test_router_mode_needs_no_wallet_and_refuses_direct_features(devnet: Devnet) -> None:
    with router_client(devnet) as zg:
        assert zg.backend == "router" and "router=" in repr(zg)
        direct = (zg.ledger.get, zg.ledger.sub_accounts, lambda: zg.api_keys.revoke_all(address(devnet, "chat-a")))
        for direct_only in (*direct, lambda: zg.acknowledge(address(devnet, "chat-a"))):
            with pytest.raises(ConfigurationError, match="Direct-mode feature"):
                direct_only()
        with pytest.raises(ConfigurationError, match="Direct-mode feature"):
            _ = zg.address
    from zerog_compute.funding import FundingPolicy

    with pytest.raises(ConfigurationError, match="Direct-mode feature"):
        router_client(devnet, funding=FundingPolicy())
    with pytest.raises(ConfigurationError, match="app-sk-"):
        ZeroG(router_api_key="app-sk-abcdefgh", router_url=devnet.router.url)
    with pytest.raises(ConfigurationError, match="router_url"):
        ZeroG(router_api_key="sk-abc", router_url="ftp://nope")


def test_a_router_client_with_a_wallet_keeps_direct_features(devnet: Devnet) -> None:
    user = devnet.users[1]
    with ZeroG(
        private_key=user.private_key,
        network=devnet_network(devnet),
        router_api_key=devnet.router.api_keys[0],
        router_url=devnet.router.url,
    ) as zg:
        assert zg.backend == "router" and zg.address == user.address
        assert zg.ledger.sub_accounts() == []
        assert zg.chat.completions.create(model=model(devnet), messages=ASK).zerog is not None


def test_environment_selects_the_router_unless_a_private_key_is_passed(
    devnet: Devnet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZG_ROUTER_API_KEY", devnet.router.api_keys[0])
    monkeypatch.setenv("ZG_ROUTER_URL", devnet.router.url)
    with ZeroG() as zg:
        assert zg.backend == "router" and zg.router.url == devnet.router.url
        assert zg.chat.completions.create(model=model(devnet), messages=ASK).zerog is not None
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet)) as direct:
        assert direct.backend == "direct"
        with pytest.raises(ConfigurationError, match="Router mode"):
            direct.router.models()
    monkeypatch.delenv("ZG_ROUTER_URL")
    with ZeroG() as hosted:  # the default network is testnet: so is the Router
        assert hosted.router.url == "https://router-api-testnet.integratenetwork.work/v1"


def test_network_devnet_uses_the_devnets_router(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    description = devnet.write_description(tmp_path / "devnet.json")
    monkeypatch.setenv("ZG_DEVNET_FILE", str(description))
    with ZeroG(network="devnet", router_api_key=devnet.router.api_keys[0]) as zg:
        assert zg.router.url == devnet.router.url
        assert zg.chat.completions.create(model=model(devnet), messages=ASK).zerog is not None
    data = json.loads(description.read_text())
    del data["router"]
    description.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match="router_url="):
        ZeroG(network="devnet", router_api_key=devnet.router.api_keys[0])


def test_router_listings_and_balance(rzg: ZeroG, devnet: Devnet) -> None:
    models = {m.id: m for m in rzg.router.models()}
    assert set(models) == {p.model for p in devnet.providers}
    assert models[model(devnet)].provider_count == 3 and models[model(devnet)].verifiability == "TeeML"
    providers = rzg.router.providers(model(devnet))
    assert {p.address for p in providers} == {address(devnet, n) for n in CHAT}
    cheap = next(p for p in providers if p.address == address(devnet, "chat-b"))
    assert cheap.prices() == (devnet.provider("chat-b").info.input_price, devnet.provider("chat-b").info.output_price)
    balance = rzg.router.balance(devnet.router.management_keys[0])
    assert balance.balance == balance.total_balance == devnet.router.balance(devnet.router.api_keys[0])


# ------------------------------------------------------------------------------------------------- key hygiene


def test_the_router_key_never_leaks(devnet: Devnet, caplog: pytest.LogCaptureFixture) -> None:
    secret = devnet.router.create_key()
    secrets = [secret, secret.removeprefix("sk-")]
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        with router_client(devnet, secret) as zg:
            texts += [repr(zg), str(zg), repr(zg._router), repr(vars(zg._router))]
            reply = zg.chat.completions.create(model=model(devnet), messages=ASK)
            texts += [repr(reply), reply.model_dump_json(), repr(reply.zerog)]
            chunks = list(zg.chat.completions.create(model=model(devnet), messages=ASK, stream=True))
            texts += [repr(c) for c in chunks]
            errors: list[BaseException] = []
            for trigger in (
                lambda: zg.chat.completions.create(model="no/such", messages=ASK),
                lambda: zg.router.balance(),
            ):
                try:
                    trigger()
                except ZeroGError as exc:
                    errors.append(exc)
        devnet.router.revoke(secret)
        with router_client(devnet, secret) as zg:
            try:
                zg.chat.completions.create(model=model(devnet), messages=ASK)
            except ZeroGError as exc:
                errors.append(exc)
    assert len(errors) == 3
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error)), str(vars(error))]
    texts.append(caplog.text)
    for text in texts:
        for value in secrets:
            assert value not in text


def test_the_key_is_only_on_the_wire_to_the_router(devnet: Devnet) -> None:
    seen: list[tuple[str, str | None]] = []

    def hook(request: httpx.Request) -> None:
        seen.append((str(request.url), request.headers.get("authorization")))

    http = httpx.Client(event_hooks={"request": [hook]})
    with router_client(devnet, http_client=http) as zg:
        zg.chat.completions.create(model=model(devnet), messages=ASK)
    assert seen and all(url.startswith(devnet.router.url) for url, _ in seen)
    assert all(value == f"Bearer {devnet.router.api_keys[0]}" for _, value in seen)


# ------------------------------------------------------------------------------------------------- pure mapping


def drive(flow: Any, answer: Any) -> Any:
    """Run a flow by hand: ``answer(op)`` returns the I/O result (an HttpResult) or raises."""
    result: Any = None
    try:
        op = next(flow)
        while True:
            try:
                result = answer(op)
            except ZeroGError as exc:
                op = flow.throw(exc)
                continue
            op = flow.send(result)
    except StopIteration as stop:
        return stop.value


def error_body(status: int, code: str, message: str = "boom") -> tuple[int, bytes]:
    return status, json.dumps(
        {"error": {"message": message, "type": "x", "code": code}, "request_id": "req-1"}
    ).encode()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalid_body", RequestRejectedError),
        (400, "invalid_api_key", InvalidTokenError),
        (400, "missing_authorization", InvalidTokenError),
        (400, "api_key_revoked", InvalidTokenError),
        (401, "invalid_api_key", InvalidTokenError),
        (402, "insufficient_balance", InsufficientBalanceError),
        (403, "insufficient_scope", ConfigurationError),
        (403, "access_denied", InvalidTokenError),
        (404, "model_not_found", ServiceNotFoundError),
        (429, "rate_limit_exceeded", RateLimitedError),
        (500, "internal_error", ProviderUnavailableError),
        (502, "provider_error", ProviderUnavailableError),
        (503, "no_available_provider", ProviderUnavailableError),
        (503, "no_provider_for_trust_mode", ProviderUnavailableError),
    ],
)
def test_router_error_mapping(status: int, code: str, expected: type[Exception]) -> None:
    from zerog_compute.http_errors import router_error as error_from_response

    error = error_from_response(*error_body(status, code, "key sk-secretsecret123 was bad"), {"Retry-After": "7"})
    assert type(error) is expected
    assert code in str(error) and "req-1" in str(error) and "sk-secretsecret123" not in str(error)
    if isinstance(error, RateLimitedError):
        assert error.retry_after == 7.0
    if isinstance(error, InsufficientBalanceError):
        assert "pc.0g.ai" in str(error)


def test_fee_falls_back_to_the_catalog_price_then_to_zero_with_a_note() -> None:
    from pydantic import SecretStr

    from zerog_compute._io import HttpResult
    from zerog_compute.router import RouterRequest, RouterState, record_for

    def answer(listed_providers: list[dict[str, Any]], models: list[dict[str, Any]]) -> Any:
        def respond(op: Any) -> HttpResult:
            data = listed_providers if "/providers" in op.url else models
            return HttpResult(200, httpx.Headers(), json.dumps({"data": data}).encode())

        return respond

    request = RouterRequest("/chat/completions", "u", {}, b"{}", "m", "chatbot", True)
    data = {"id": "x", "usage": {"prompt_tokens": 10, "completion_tokens": 2}, "x_0g_trace": {"provider": "0xabc"}}
    headers = {"ZG-Res-Key": "k", "X-RateLimit-Remaining-Requests": "9"}

    def record(listed: list[dict[str, Any]], models: list[dict[str, Any]]) -> Any:
        state = RouterState("http://r/v1", SecretStr("sk-abc"), verification="warn")
        return drive(record_for(state, request, headers, data), answer(listed, models))

    exact = record([{"address": "0xABC", "pricing": {"prompt": "3", "completion": "5"}}], [])
    assert exact.fee == 40 and exact.model_dump()["fee_note"].startswith("estimate") and exact.chat_id == "k"
    assert exact.model_dump()["fee_estimated"] is True
    assert exact.model_dump()["rate_limit"] == {"remaining": "9"}
    assert exact.verification.verdict is Verdict.unavailable  # no x_0g_trace in the body
    catalog = record([{"address": "0xabc"}], [{"id": "m", "pricing": {"prompt": 1, "completion": "1"}}])
    assert catalog.fee == 12 and "catalog price" in catalog.model_dump()["fee_note"]
    unknown = record([], [{"id": "m", "pricing": {"prompt": "0.000001"}}])
    assert unknown.fee == 0 and "fee unknown" in unknown.model_dump()["fee_note"]
