"""zg.ledger and zg.acknowledge against the real contracts on the devnet, sync and async."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from zerog_compute import (
    AsyncZeroG,
    ConfigurationError,
    InsufficientBalanceError,
    LedgerError,
    LedgerNotFoundError,
    NotAcknowledgedError,
    ServiceNotFoundError,
    ZeroG,
)
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
G = 10**18


def test_no_ledger_yet(zg: ZeroG) -> None:
    with pytest.raises(LedgerNotFoundError, match=r"zg\.ledger\.create"):
        zg.ledger.get()


def test_create_checks_the_minimum_before_sending(zg: ZeroG) -> None:
    before = zg.rpc_calls
    with pytest.raises(ConfigurationError, match="at least 3 0G"):
        zg.ledger.create("2.5")
    assert zg.rpc_calls == before  # nothing sent, not even a read


def test_create_deposit_and_duplicate(zg: ZeroG) -> None:
    info = zg.ledger.create("5")
    assert (info.total, info.available) == (5 * G, 5 * G)
    with pytest.raises(LedgerError, match="already has a ledger"):
        zg.ledger.create(Decimal(3))
    assert zg.ledger.deposit(Decimal("1.5")).total == 6 * G + G // 2
    assert zg.ledger.deposit(1).total == 6 * G + G // 2 + 1  # ints are neuron


@pytest.mark.parametrize("bad", [1.5, float("nan"), -1, "abc", None, True])
def test_amounts_must_be_exact(zg: ZeroG, bad: object) -> None:
    with pytest.raises(ConfigurationError):
        zg.ledger.deposit(bad)  # type: ignore[arg-type]


def test_transfer_and_sub_accounts(zg: ZeroG, devnet: Devnet) -> None:
    zg.ledger.create("10")
    chat_a = provider(devnet)
    with pytest.raises(ConfigurationError, match="at least 1 0G"):
        zg.ledger.transfer(chat_a, "0.5")
    account = zg.ledger.transfer(chat_a, "2")
    assert (account.balance, account.acknowledged, account.provider) == (2 * G, True, chat_a)
    assert zg.ledger.transfer(chat_a, "0.5").balance == 2 * G + G // 2  # existing sub-account: no minimum
    assert zg.ledger.get().available == 10 * G - 2 * G - G // 2
    assert [a.provider for a in zg.ledger.sub_accounts()] == [chat_a]
    assert zg.ledger.sub_account(provider(devnet, "chat-b")) is None
    with pytest.raises(InsufficientBalanceError, match="deposit at least"):
        zg.ledger.transfer(chat_a, "100")


def test_refund_rules(zg: ZeroG) -> None:
    zg.ledger.create("5")
    with pytest.raises(ConfigurationError, match="0 or at least 3 0G"):
        zg.ledger.refund("3")
    assert zg.ledger.refund("2").total == 3 * G
    with pytest.raises(InsufficientBalanceError):
        zg.ledger.refund("4")


def test_retrieve_is_two_phase(zg: ZeroG, devnet: Devnet) -> None:
    zg.ledger.create("5")
    chat_a = provider(devnet)
    zg.ledger.transfer(chat_a, "2")
    [requested] = zg.ledger.retrieve()
    assert requested.pending_refund == 2 * G and requested.usable == 0
    devnet.increase_time(86_400 + 1)
    zg.ledger.retrieve([chat_a])
    assert zg.ledger.get().available == 5 * G


def test_acknowledge_never_moves_funds_unasked(zg: ZeroG, devnet: Devnet) -> None:
    zg.ledger.create("5")
    chat_a = provider(devnet)
    with pytest.raises(NotAcknowledgedError, match="amount=1"):
        zg.acknowledge(chat_a)
    assert zg.ledger.get().available == 5 * G
    account = zg.acknowledge(chat_a, amount="1")
    assert account.acknowledged and account.balance == G
    assert zg.acknowledge(chat_a).balance == G  # already acknowledged: nothing sent


def test_bad_provider_address(zg: ZeroG) -> None:
    with pytest.raises(ConfigurationError, match="20-byte address"):
        zg.ledger.transfer("0x1234", "1")


def test_wallet_balance_is_the_native_balance_a_deposit_draws_on(zg: ZeroG, devnet: Devnet) -> None:
    before = zg.ledger.wallet_balance()
    assert before == devnet.w3.eth.get_balance(zg.address)  # type: ignore[arg-type]
    zg.ledger.create("3")
    after = zg.ledger.wallet_balance()
    assert after == devnet.w3.eth.get_balance(zg.address) and before - after >= 3 * G  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_async_ledger_flow(azg: AsyncZeroG, devnet: Devnet) -> None:
    with pytest.raises(LedgerNotFoundError):
        await azg.ledger.get()
    await azg.ledger.create("4")
    account = await azg.ledger.transfer(provider(devnet), "1")
    assert account.balance == G
    assert (await azg.ledger.get()).available == 3 * G
    assert len(await azg.ledger.sub_accounts()) == 1
    assert await azg.ledger.wallet_balance() == devnet.w3.eth.get_balance(azg.address)  # type: ignore[arg-type]


ASK = [{"role": "user", "content": "What is 2 + 3?"}]
NOBODY = "0x000000000000000000000000000000000000dEaD"


def test_unsettled_fee_is_what_the_provider_will_settle(zg: ZeroG, devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    chat_a = provider(devnet)
    assert zg.ledger.unsettled_fee(chat_a) == 0
    zg.chat.completions.create(provider=chat_a, messages=ASK)
    owed = devnet.provider("chat-a").unsettled(zg.address)
    assert owed > 0 and zg.ledger.unsettled_fee(chat_a) == owed
    with pytest.raises(ServiceNotFoundError):
        zg.ledger.unsettled_fee(NOBODY)
    with pytest.raises(NotAcknowledgedError):  # no sub-account: no session token to ask with
        zg.ledger.unsettled_fee(provider(devnet, "chat-b"))
    devnet.provider("chat-a").stop()
    try:
        assert zg.ledger.unsettled_fee(chat_a, timeout=2.0) is None
    finally:
        devnet.provider("chat-a").restart()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"userAddress": "0x", "unsettledFee": "1234"}', 1234),
        (200, b'{"userAddress": "0x"}', None),
        (200, b"not json", None),
        (200, b'{"unsettledFee": "lots"}', None),
        (403, b'{"error": "you can only query your own unsettled fee"}', None),
        (502, b"bad gateway", None),
    ],
)
def test_unsettled_fee_is_none_when_the_provider_cannot_tell(
    devnet: Devnet, status: int, body: bytes, expected: int | None
) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(status, content=body)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    network = devnet_network(devnet)
    with ZeroG(private_key=devnet.users[0].private_key, network=network, http_client=http) as zg:
        assert zg.ledger.unsettled_fee(provider(devnet)) == expected
    assert seen == [f"/v1/user/{devnet.users[0].address}/unsettledfee"]
    http.close()


@pytest.mark.anyio
async def test_async_unsettled_fee(azg: AsyncZeroG, devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    chat_a = provider(devnet)
    await azg.chat.completions.create(provider=chat_a, messages=ASK)
    assert await azg.ledger.unsettled_fee(chat_a) == devnet.provider("chat-a").unsettled(azg.address)
