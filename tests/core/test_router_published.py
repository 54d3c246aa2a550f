"""Router mode against the Router's published API: network URLs, multipart verify_tee, b64_json images, the
billed fee, balance/funds/usage, async image jobs, image edits and trust mode (emulator over real sockets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from zerog_compute import (
    AsyncZeroG,
    ConfigurationError,
    InvalidTokenError,
    ProviderUnavailableError,
    ServiceNotFoundError,
    Verdict,
    ZeroG,
)
from zerog_devnet import Devnet
from zerog_devnet.media import silent_wav as wav

from .conftest import expected_chat_fee

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
CHAT = ("chat-a", "chat-b", "chat-c")
MAINNET = "https://router-api.0g.ai/v1"
TESTNET = "https://router-api-testnet.integratenetwork.work/v1"


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZG_PRIVATE_KEY", "ZG_ROUTER_API_KEY", "ZG_ROUTER_URL", "ZG_ROUTER_MANAGEMENT_KEY", "ZG_NETWORK"):
        monkeypatch.delenv(name, raising=False)


def address(net: Devnet, name: str) -> str:
    return net.provider(name).info.address


def chat_model(net: Devnet) -> str:
    return net.provider("chat-a").info.model


class Seen:
    """The requests a client sent (an httpx event hook: the wire, not our code)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def client(self) -> httpx.Client:
        return httpx.Client(event_hooks={"request": [self]}, timeout=60)


def router(net: Devnet, key: str | None = None, **config: Any) -> ZeroG:
    return ZeroG(router_api_key=key or net.router.api_keys[0], router_url=net.router.url, **config)


# ------------------------------------------------------------------------------------------------- networks


@pytest.mark.parametrize(("network", "url"), [("mainnet", MAINNET), ("testnet", TESTNET)])
def test_each_network_reaches_its_own_router(network: str, url: str) -> None:
    reached: list[str] = []

    def hosted(request: httpx.Request) -> httpx.Response:  # stands in for the hosted Router (unreachable here)
        reached.append(str(request.url))
        body = {"error": {"message": "invalid API key", "type": "invalid_request_error", "code": "invalid_api_key"}}
        return httpx.Response(401, json={**body, "request_id": "req-1"})

    http = httpx.Client(transport=httpx.MockTransport(hosted))
    with ZeroG(router_api_key="sk-other-network-key", network=network, http_client=http) as zg:
        assert zg.router.url == url
        with pytest.raises(InvalidTokenError, match=f"this is the {network} Router") as wrong_key:
            zg.chat.completions.create(model="m", messages=ASK)
    assert reached == [f"{url}/chat/completions"]
    other = "testnet" if network == "mainnet" else "mainnet"
    assert f"network={other!r}" in str(wrong_key.value)


def test_a_router_url_of_another_network_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="mainnet Router.*network='mainnet'"):
        ZeroG(router_api_key="sk-abcdefgh", network="testnet", router_url=MAINNET)
    with pytest.raises(ConfigurationError, match="testnet Router"):
        ZeroG(router_api_key="sk-abcdefgh", network="mainnet", router_url=TESTNET + "/")
    monkeypatch.setenv("ZG_ROUTER_URL", TESTNET)
    with pytest.raises(ConfigurationError, match="testnet Router"):
        ZeroG(router_api_key="sk-abcdefgh", network="mainnet")
    with ZeroG(router_api_key="sk-abcdefgh", network="testnet") as zg:
        assert zg.router.url == TESTNET


# ------------------------------------------------------------------------------------------------- multipart


def test_a_multipart_request_carries_verify_tee_in_the_query_only(devnet: Devnet) -> None:
    speech, image = devnet.provider("speech").info, devnet.provider("image").info
    seen = Seen()
    with router(devnet, verification="enforce", http_client=seen.client()) as zg:
        text = zg.audio.transcriptions.create(model=speech.model, file=("hello.wav", wav(1.0)))
        edited = zg.images.edit(model=image.model, image=b"\x89PNG fake", prompt="make it blue")
        routed = zg.audio.transcriptions.create(
            model=speech.model, file=("hello.wav", wav(1.0)), extra_headers={"X-0G-Provider-Sort": "price"}
        )
    for result in (text, edited, routed):
        assert result.zerog is not None and result.zerog.verdict().verdict is Verdict.verified
    assert edited.data[0].b64_json and edited.zerog is not None and edited.zerog.fee == image.output_price
    posts = [r for r in seen.requests if r.method == "POST"]
    assert [r.url.params.get("verify_tee") for r in posts] == ["true"] * 3
    for request in posts:
        body = request.content
        assert b"verify_tee" not in body and b"X-0G" not in body and b'name="provider"' not in body
    assert posts[2].headers["X-0G-Provider-Sort"] == "price"
    with router(devnet, verification="off", http_client=seen.client()) as zg:
        zg.audio.transcriptions.create(model=speech.model, file=("hello.wav", wav(1.0)))
    assert "verify_tee" not in seen.requests[-1].url.params


# ------------------------------------------------------------------------------------------------- images, fees


def test_images_default_to_b64_json_and_url_is_refused(devnet: Devnet) -> None:
    image = devnet.provider("image").info
    seen = Seen()
    with router(devnet, http_client=seen.client()) as zg:
        pictures = zg.images.generate(model=image.model, prompt="a red square")
        assert pictures.data[0].b64_json and pictures.zerog is not None
        assert json.loads(seen.requests[-1].content)["response_format"] == "b64_json"
        with pytest.raises(ConfigurationError, match="b64_json"):
            zg.images.generate(model=image.model, prompt="a red square", response_format="url")


@pytest.mark.parametrize("placement", ["chunk", "usage", "bare"])
def test_a_streams_fee_is_the_billed_total_wherever_the_trace_sits(devnet: Devnet, placement: str) -> None:
    devnet.router.faults.set(stream_trace=placement)
    key = devnet.router.api_keys[0]
    with router(devnet, key) as zg:
        before = devnet.router.balance(key)
        chunks = list(zg.chat.completions.create(model=chat_model(devnet), messages=ASK, stream=True))
    record = chunks[-1].zerog
    assert record is not None and record.fee == before - devnet.router.balance(key) > 0
    assert record.model_dump()["fee_estimated"] is False and record.verdict().verdict is Verdict.verified
    assert record.provider in {address(devnet, n) for n in CHAT}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "2 + 3 = 5"
    assert not any("x_0g_trace" in c.model_dump() for c in chunks)


def test_the_billed_fee_wins_over_the_listings_when_providers_price_differently() -> None:
    from pydantic import SecretStr

    from zerog_compute.router import RouterRequest, RouterState, record_for

    state = RouterState("http://r/v1", SecretStr("sk-abc"), verification="off")
    request = RouterRequest("/images/generations", "u", {}, b"{}", "m", "text-to-image", False)
    billing = {"input_cost": "0", "output_cost": "7", "total_cost": "7"}
    data = {"data": [], "x_0g_trace": {"provider": "0xabc", "request_id": "req-9", "billing": billing}}
    flow = record_for(state, request, {}, data)
    try:
        op = next(flow)
        raise AssertionError(f"no listing may be read when the Router billed: {op}")
    except StopIteration as stop:
        record = stop.value
    extra = record.model_dump()
    assert record.fee == 7 and extra["billing"] == {"input_cost": 0, "output_cost": 7, "total_cost": 7}
    assert extra["request_id"] == "req-9" and extra["fee_estimated"] is False and record.provider == "0xabc"


# ------------------------------------------------------------------------------------------------- account


def test_balance_funds_and_usage_are_typed(devnet: Devnet) -> None:
    key = devnet.router.create_key()
    management = devnet.router.create_management_key(key)
    with router(devnet, key) as zg:
        reply = zg.chat.completions.create(model=chat_model(devnet), messages=ASK)
        balance = zg.router.balance(management)
        assert balance.total_balance == balance.balance == devnet.router.balance(key) > 0
        assert "balance" not in balance.model_dump()  # the alias is computed, not a published field
        funds = zg.router.funds(management)
        assert funds.total == devnet.router.balance(key) and funds.pending_charge == 0
        stats = zg.router.usage_stats(management)
        assert reply.zerog is not None and stats.total_requests == 1 and stats.total_cost == reply.zerog.fee
        history = zg.router.usage_history(management, limit=5)
        assert history.total == 1 and history.data[0].cost == reply.zerog.fee
        assert history.data[0].request_id == reply.zerog.model_dump()["request_id"]
        assert history.data[0].prompt_tokens == reply.zerog.input_tokens
        assert zg.router.usage_stats(management, start_date="2999-01-01").total_requests == 0
        devnet.router.set_balance(key, -3)
        assert zg.router.funds(management).total == -3 and zg.router.balance(management).total_balance == 0
        with pytest.raises(ConfigurationError, match="insufficient_scope"):
            zg.router.funds()  # the sk- key may not read the account


# ------------------------------------------------------------------------------------------------- async jobs


def test_async_image_jobs_submit_poll_and_verify(devnet: Devnet) -> None:
    image = devnet.provider("image").info
    key = devnet.router.api_keys[0]
    seen = Seen()
    with router(devnet, key, verification="enforce", http_client=seen.client()) as zg:
        before = devnet.router.balance(key)
        job = zg.images.jobs.submit(model=image.model, prompt="a green square")
        assert job.provider == image.address and job.model == image.model and not job.failed
        result = zg.images.jobs.wait(job)
        assert result.data[0].b64_json and result.zerog is not None
        assert result.zerog.fee == image.output_price == before - devnet.router.balance(key)
        assert result.zerog.verdict().verdict is Verdict.verified and result.zerog.provider == image.address
        assert zg.images.jobs.get(job).done
        direct = zg.images.jobs.create(model=image.model, prompt="a blue square")
        assert direct.zerog is not None and direct.zerog.fee == image.output_price
        polls = [r for r in seen.requests if r.method == "GET"]
        assert all(r.url.params["verify_tee"] == "true" for r in polls)
        assert all(r.url.params["provider_address"] == image.address for r in polls)
        submitted = json.loads(next(r for r in seen.requests if r.method == "POST").content)
        assert submitted["response_format"] == "b64_json" and "verify_tee" not in submitted
        lost = job.model_copy(update={"id": "job-nope"})
        with pytest.raises(ServiceNotFoundError, match="job_not_found"):
            zg.images.jobs.wait(lost)


@pytest.mark.anyio
async def test_async_client_jobs_edits_account_and_trust_mode(devnet: Devnet) -> None:
    image = devnet.provider("image").info
    key = devnet.router.api_keys[1]
    async with AsyncZeroG(router_api_key=key, router_url=devnet.router.url, trust_mode="private") as zg:
        result = await zg.images.jobs.create(model=image.model, prompt="a green square")
        assert result.zerog is not None and result.zerog.fee == image.output_price
        edited = await zg.images.edit(model=image.model, image=b"png", prompt="blue")
        assert edited.zerog is not None and edited.zerog.verdict().verdict is Verdict.verified
        management = devnet.router.management_keys[1]
        assert (await zg.router.balance(management)).total_balance == devnet.router.balance(key)
        assert (await zg.router.funds(management)).total == devnet.router.balance(key)
        assert (await zg.router.usage_stats(management)).total_requests >= 2
        assert (await zg.router.usage_history(management, limit=1)).data
        devnet.router.faults.set(teetls_providers=(address(devnet, "chat-a"), address(devnet, "chat-b")))
        for _ in range(2):
            reply = await zg.chat.completions.create(model=chat_model(devnet), messages=ASK)
            assert reply.zerog is not None and reply.zerog.provider == address(devnet, "chat-c")
            assert reply.zerog.fee == expected_chat_fee(devnet, reply.usage, "chat-c")
        with pytest.raises(ConfigurationError, match="Direct mode"):
            await zg.embeddings.create(model=devnet.provider("embed").info.model, input="x")


# ------------------------------------------------------------------------------------------------- trust mode


@pytest.fixture
def teetls(devnet: Devnet) -> Iterator[None]:
    devnet.router.faults.set(teetls_providers=(address(devnet, "chat-a"), address(devnet, "chat-b")))
    yield


def test_trust_mode_on_the_client_and_the_pool(devnet: Devnet, teetls: None) -> None:
    seen = Seen()
    with router(devnet, trust_mode="private", http_client=seen.client()) as zg:
        for _ in range(2):
            reply = zg.chat.completions.create(model=chat_model(devnet), messages=ASK)
            assert reply.zerog is not None and reply.zerog.provider == address(devnet, "chat-c")
        assert seen.requests[-1].headers["X-0G-Provider-Trust-Mode"] == "private"
    with router(devnet) as zg:
        pool = zg.pool(model=chat_model(devnet), strategy="price", trust_mode="private")
        for _ in range(2):
            pooled = pool.chat.completions.create(messages=ASK)
            assert pooled.zerog is not None and pooled.zerog.provider == address(devnet, "chat-c")
        cheapest = zg.pool(model=chat_model(devnet), strategy="price").chat.completions.create(messages=ASK)
        assert cheapest.zerog is not None and cheapest.zerog.provider == address(devnet, "chat-b")
    devnet.router.faults.set(teetls_providers=tuple(address(devnet, n) for n in CHAT))
    with router(devnet, trust_mode="private") as zg, pytest.raises(ProviderUnavailableError) as none:
        zg.chat.completions.create(model=chat_model(devnet), messages=ASK)
    assert "no_provider_for_trust_mode" in str(none.value) and none.value.status_code == 503


def test_trust_mode_is_checked_and_refused_in_direct_mode(devnet: Devnet, zg: ZeroG) -> None:
    with pytest.raises(ConfigurationError, match="trust_mode must be 'private'"):
        router(devnet, trust_mode="verified")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Router option"):
        ZeroG(private_key=devnet.users[0].private_key, rpc_url=devnet.rpc_url, trust_mode="private")
    with pytest.raises(ConfigurationError, match="Router option"):
        zg.pool(model=chat_model(devnet), trust_mode="private")


def test_a_failed_or_slow_job_raises_typed_errors(devnet: Devnet) -> None:
    from zerog_compute import DeadlineExceededError, ProviderError

    image = devnet.provider("image").info
    with router(devnet, devnet.router.create_key()) as zg:  # its own account: the slow job bills it later
        devnet.provider("image").faults.set(latency_ms=1500)
        slow = zg.images.jobs.submit(model=image.model, prompt="slow")
        with pytest.raises(DeadlineExceededError, match="still"):
            zg.images.jobs.wait(slow, timeout=0.2)
        devnet.provider("image").faults.set(latency_ms=0, http_status=502)
        broken = zg.images.jobs.submit(model=image.model, prompt="broken")
        with pytest.raises(ProviderError, match="failed") as failed:
            zg.images.jobs.wait(broken, timeout=60)
        assert not isinstance(failed.value, DeadlineExceededError)


@pytest.mark.anyio
async def test_async_client_errors_are_typed(devnet: Devnet) -> None:
    from zerog_compute import InsufficientBalanceError

    image = devnet.provider("image").info
    empty = devnet.router.create_key(balance=0)
    async with AsyncZeroG(router_api_key=empty, router_url=devnet.router.url) as zg:
        with pytest.raises(InsufficientBalanceError):
            await zg.chat.completions.create(model=chat_model(devnet), messages=ASK)
        with pytest.raises(InsufficientBalanceError):
            await zg.images.jobs.submit(model=image.model, prompt="x")
        with pytest.raises(ConfigurationError, match="insufficient_scope"):
            await zg.router.usage_history()
        with pytest.raises(ConfigurationError, match="b64_json"):
            await zg.images.generate(model=image.model, prompt="x", response_format="url")
    async with AsyncZeroG(router_api_key="sk-not-a-real-key", router_url=devnet.router.url) as zg:
        with pytest.raises(InvalidTokenError, match="invalid_api_key"):
            await zg.images.edit(model=image.model, image=b"png", prompt="x")
    devnet.router.faults.set(teetls_providers=tuple(address(devnet, n) for n in CHAT))
    async with AsyncZeroG(router_api_key=devnet.router.api_keys[1], router_url=devnet.router.url) as zg:
        pool = zg.pool(model=chat_model(devnet), trust_mode="private")
        with pytest.raises(ProviderUnavailableError, match="no_provider_for_trust_mode"):
            await pool.chat.completions.create(messages=ASK)


def test_job_shapes_the_docs_leave_open_are_read_leniently() -> None:
    from zerog_compute import ProviderError
    from zerog_compute.router.jobs import _job_from, images_of

    first = _job_from({"job_id": "j1", "status": "processing", "x_0g_trace": {"provider": "0xP"}}, "m", None)
    assert (first.id, first.provider, first.model, first.done, first.failed) == ("j1", "0xP", "m", False, False)
    named = _job_from({"id": "j2", "status": "COMPLETED", "provider": "0xQ", "model": "n", "eta": 3}, "m", "0xR")
    assert named.provider == "0xQ" and named.model == "n" and named.done and named.model_extra == {"eta": 3}
    assert _job_from({"id": "j3", "status": "expired"}, "m", "0xR").failed
    with pytest.raises(ProviderError, match="no job id"):
        _job_from({"status": "queued"}, "m", None)
    nested = {"status": "succeeded", "result": {"data": [{"b64_json": "eA=="}]}, "x_0g_trace": {"provider": "0xP"}}
    assert images_of(nested) == {"data": [{"b64_json": "eA=="}], "x_0g_trace": {"provider": "0xP"}}
    flat = {"status": "succeeded", "data": [], "x_0g_trace": {}}
    assert images_of(flat) is flat


def test_anthropic_messages_through_the_router(devnet: Devnet) -> None:
    key = devnet.router.api_keys[0]
    ask = [{"role": "user", "content": [{"type": "text", "text": "What is 2 + 3?"}]}]
    with router(devnet, key, verification="enforce") as zg:
        before = devnet.router.balance(key)
        answer = zg.router.messages(model=chat_model(devnet), messages=ask, max_tokens=64, system="Be brief.")
        assert answer.text == "2 + 3 = 5" and answer.type == "message" and answer.stop_reason == "end_turn"
        record = answer.zerog
        assert record is not None and record.fee == before - devnet.router.balance(key) > 0
        assert record.input_tokens == answer.usage["input_tokens"] and record.verdict().verdict is Verdict.verified
        assert "x_0g_trace" not in answer.model_dump()
        pinned = zg.router.messages(
            model=chat_model(devnet), messages=ask, max_tokens=8, provider=address(devnet, "chat-b")
        )
        assert pinned.zerog is not None and pinned.zerog.provider == address(devnet, "chat-b")
        with pytest.raises(ConfigurationError, match="max_tokens"):
            zg.router.messages(model=chat_model(devnet), messages=ask, max_tokens=0)


@pytest.mark.anyio
async def test_anthropic_messages_through_the_async_client(devnet: Devnet) -> None:
    async with AsyncZeroG(router_api_key=devnet.router.api_keys[1], router_url=devnet.router.url) as zg:
        answer = await zg.router.messages(model=chat_model(devnet), messages=ASK, max_tokens=64)
        assert answer.text == "2 + 3 = 5" and answer.zerog is not None and answer.zerog.fee > 0
        with pytest.raises(ServiceNotFoundError):
            await zg.router.messages(model="no/such-model", messages=ASK, max_tokens=64)
