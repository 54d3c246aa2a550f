"""The usage ledger and its audit, against the devnet: real requests, real settlement on chain (``settle_now``).

Each test writes to its own SQLite file (``usage=``); the reconciliation reads the chain's events from block 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from zerog_compute import AsyncZeroG, ConfigurationError, VerificationError, ZeroG
from zerog_compute.cli import main
from zerog_compute.usage import RedisUsageStore, SqliteUsageStore, UsageFilter
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
MESSAGES = [{"role": "user", "content": "What is 2 + 3?"}]
OVERCHARGE = 12_345_678_901_234


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a"])
    return devnet


def ledger_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'usage.db'}"


def test_every_request_is_recorded_and_matches_the_settlements(funded: Devnet, tmp_path: Path) -> None:
    chat_a = provider(funded, "chat-a")
    net = devnet_network(funded)
    with ZeroG(private_key=funded.users[0].private_key, network=net, usage=ledger_url(tmp_path)) as zg:
        plain = zg.chat.completions.create(provider=chat_a, messages=MESSAGES)
        chunks = list(zg.chat.completions.create(provider=chat_a, messages=MESSAGES, stream=True))
        assert int(funded.provider("chat-a").settle_now()["settled"]) > 0
        later = zg.chat.completions.create(provider=chat_a, messages=MESSAGES)  # stays unsettled
        streamed = chunks[-1].zerog
        assert plain.zerog is not None and later.zerog is not None and streamed is not None
        fees = [plain.zerog.fee, streamed.fee, later.zerog.fee]

        records = zg.usage.records()
        assert [r.fee for r in records] == fees
        assert {r.backend for r in records} == {"direct"} and {r.provider for r in records} == {chat_a.lower()}
        assert [r.chat_id for r in records] == [plain.zerog.chat_id, streamed.chat_id, later.zerog.chat_id]

        result = zg.usage.reconcile()
        (audit,) = result.providers
        assert (audit.status, audit.difference, audit.requests) == ("match", 0, 3)
        assert audit.recorded == sum(fees)
        assert audit.settled == plain.zerog.fee + streamed.fee  # exactly what settle_now moved on chain
        assert audit.unsettled == later.zerog.fee == funded.provider("chat-a").unsettled(funded.users[0].address)
        assert result.ok and result.blocks_read > 0

        again = zg.usage.reconcile()  # the cache: only blocks mined since are read
        assert again.providers == result.providers
        assert again.blocks_read <= 2 and again.settlements == result.settlements

    # after close, every verdict of the background ("warn") verification is in the file
    stored = SqliteUsageStore(tmp_path / "usage.db").query(UsageFilter())
    assert [r.verdict for r in stored] == ["verified"] * 3
    written = b"".join(path.read_bytes() for path in tmp_path.glob("usage.db*"))
    assert funded.users[0].private_key.removeprefix("0x").encode() not in written and b"app-sk-" not in written


@pytest.mark.anyio
async def test_an_overcharging_provider_is_flagged_with_the_difference(funded: Devnet, tmp_path: Path) -> None:
    chat_a = provider(funded, "chat-a")
    net = devnet_network(funded)
    async with AsyncZeroG(private_key=funded.users[0].private_key, network=net, usage=ledger_url(tmp_path)) as zg:
        answer = await zg.chat.completions.create(provider=chat_a, messages=MESSAGES)
        assert answer.zerog is not None
        funded.provider("chat-a").faults.set(overcharge=OVERCHARGE)
        assert int(funded.provider("chat-a").settle_now()["settled"]) == answer.zerog.fee + OVERCHARGE
        result = await zg.usage.reconcile()
    (audit,) = result.providers
    assert audit.status == "overcharge" and audit.difference == OVERCHARGE
    assert (audit.recorded, audit.settled, audit.unsettled) == (answer.zerog.fee, answer.zerog.fee + OVERCHARGE, 0)
    assert result.flagged == [audit]
    (excess,) = audit.unexplained  # the very settlement that took it, with the amount
    assert excess.amount == OVERCHARGE and excess.tx_hash == result.settlements[-1].tx_hash


def test_cli_usage_and_reconcile_exit_code(
    funded: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    chat_a = provider(funded, "chat-a")
    description = tmp_path / "devnet.json"
    funded.write_description(description)
    for name, value in {
        "ZG_DEVNET_FILE": str(description),
        "ZG_NETWORK": "devnet",
        "ZG_PRIVATE_KEY": funded.users[0].private_key,
        "ZG_USAGE": ledger_url(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    with ZeroG(network="devnet") as zg:
        fee = sum(zg.chat.completions.create(provider=chat_a, messages=MESSAGES).zerog.fee for _ in range(2))  # type: ignore[union-attr]

    assert main(["usage", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["total"]["requests"] == 2 and shown["total"]["fee_neuron"] == str(fee)
    assert [p["provider"] for p in shown["providers"]] == [chat_a.lower()]
    assert main(["usage", "--csv", "--since", "2000-01-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("group,day,provider") and lines[1].startswith(f"provider,,{chat_a.lower()},2,")

    funded.provider("chat-a").faults.set(overcharge=OVERCHARGE)
    funded.provider("chat-a").settle_now()
    assert main(["usage", "reconcile", "--json"]) == 5
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["providers"][0]["status"] == "overcharge"
    assert report["providers"][0]["difference_neuron"] == str(OVERCHARGE)


@pytest.mark.anyio
async def test_router_requests_are_recorded_plain_and_streamed(funded: Devnet, tmp_path: Path) -> None:
    model = funded.provider("chat-a").info.model
    router = {"router_api_key": funded.router.api_keys[0], "router_url": funded.router.url}
    async with AsyncZeroG(**router, usage=ledger_url(tmp_path)) as zg:
        plain = await zg.chat.completions.create(model=model, messages=MESSAGES)
        stream = await zg.chat.completions.create(model=model, messages=MESSAGES, stream=True)
        last = [chunk async for chunk in stream][-1].zerog
        records = await zg.usage.records()
    assert plain.zerog is not None and last is not None
    assert [(r.backend, r.fee, r.chat_id) for r in records] == [
        ("router", plain.zerog.fee, plain.zerog.chat_id),
        ("router", last.fee, last.chat_id),
    ]
    assert records[0].request_id and records[0].wallet == "" and records[0].verdict != "pending"


def test_a_billed_response_that_fails_enforce_is_recorded_and_the_ledger_can_be_off(
    funded: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_a = provider(funded, "chat-a")
    net, key = devnet_network(funded), funded.users[0].private_key
    funded.provider("chat-a").faults.set(wrong_signature=True)
    with ZeroG(private_key=key, network=net, verification="enforce", usage=ledger_url(tmp_path)) as zg:
        with pytest.raises(VerificationError):
            zg.chat.completions.create(provider=chat_a, messages=MESSAGES)
        (record,) = zg.usage.records()
    assert record.verdict == "invalid_signature" and record.fee > 0

    monkeypatch.setenv("ZG_USAGE", "off")
    with ZeroG(private_key=key, network=net) as off, pytest.raises(ConfigurationError, match="usage ledger is off"):
        off.usage.records()
    with ZeroG(private_key=key, network=net, usage=False) as off:
        assert off._usage is None


def test_with_a_redis_wallet_state_the_history_lives_in_redis(
    funded: Devnet, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZG_USAGE")  # the default: the Redis server of state=
    chat_a = provider(funded, "chat-a")
    with ZeroG(private_key=funded.users[0].private_key, network=devnet_network(funded), state=redis_url) as zg:
        answer = zg.chat.completions.create(provider=chat_a, messages=MESSAGES)
        assert zg.usage.ledger.url == redis_url
    shared = RedisUsageStore(redis.Redis.from_url(redis_url, decode_responses=True), redis_url)
    seen = shared.query(UsageFilter(wallet=funded.users[0].address))
    assert answer.zerog is not None and answer.zerog.chat_id in [r.chat_id for r in seen]
