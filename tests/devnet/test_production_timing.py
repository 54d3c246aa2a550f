"""The production timing profile: the account cache delays acknowledgement and revocation, settlement waits for
its timer and defers totals under 0.004 0G — all on a clock the test moves, so nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from zerog_devnet import PRODUCTION, Devnet, ProviderSpec
from zerog_devnet.chain import contract, transact

from .conftest import make_auth

pytestmark = pytest.mark.devnet
PRICE = 10**13
"""Per token: a scripted answer costs about 0.0003 0G, so the 0.004 0G minimum takes a dozen requests."""
CHAT = {"model": "zerog-devnet/scripted-chat", "messages": [{"role": "user", "content": "What is 2 + 3?"}]}


@pytest.fixture(scope="module")
def net() -> Iterator[Devnet]:
    spec = ProviderSpec("prod", input_price=PRICE, output_price=PRICE, rpm=600, burst=50, timing=PRODUCTION)
    with Devnet.start([spec], users=2, settle_interval=3600, router=False) as devnet:
        devnet.fund(devnet.users[0], ["prod"])  # user 1 is funded by the test that watches it take effect
        yield devnet


def ask(net: Devnet, user: int = 0, **token: object) -> httpx.Response:
    info = net.provider("prod").info
    auth = make_auth(net.users[user], info.address, **token)
    return httpx.post(f"{info.url}/v1/proxy/chat/completions", json=CHAT, headers={"Authorization": auth}, timeout=30)


def test_a_new_sub_account_takes_effect_when_the_cache_expires(net: Devnet) -> None:
    refused = ask(net, user=1)
    assert refused.status_code == 400 and "account not exist" in refused.json()["error"]
    net.fund(net.users[1], ["prod"])
    still = ask(net, user=1)  # the broker still holds "no account" for this user
    assert still.status_code == 400 and "account not exist" in still.json()["error"]
    net.provider("prod").advance_clock(PRODUCTION.account_cache_ttl + 1)
    assert ask(net, user=1).status_code == 200


def test_revoke_all_refuses_new_tokens_until_the_cache_expires(net: Devnet) -> None:
    handle = net.provider("prod")
    handle.advance_clock(PRODUCTION.account_cache_ttl + 1)
    assert ask(net).status_code == 200  # caches generation 0
    inference = contract(net.w3, "InferenceServing", net.contracts.inference)
    transact(net.w3, inference.functions.revokeAllTokens(handle.info.address), net.users[0].address)
    assert ask(net).status_code == 200  # the old token still passes: the cache says generation 0
    future = ask(net, generation=1)
    assert future.status_code == 400
    assert future.json() == {"error": "validate session: invalid session token (future generation)"}
    handle.advance_clock(PRODUCTION.account_cache_ttl + 1)
    assert ask(net, generation=1).status_code == 200
    old = ask(net)
    assert old.status_code == 400 and "generation expired" in old.json()["error"]


def test_settlement_waits_for_its_timer_and_the_minimum(net: Devnet) -> None:
    handle, user = net.provider("prod"), net.users[0].address
    handle.advance_clock(PRODUCTION.account_cache_ttl + 1)  # whatever earlier tests cached is stale
    handle.advance_clock(PRODUCTION.settle_interval)  # start from a fresh timer period
    generation = (
        contract(net.w3, "InferenceServing", net.contracts.inference)
        .functions.getAccount(user, handle.info.address)
        .call()[9]
    )
    assert ask(net, generation=generation).status_code == 200
    before = handle.unsettled(user)
    assert 0 < before < PRODUCTION.min_settlement_fee
    assert handle.advance_clock(PRODUCTION.settle_interval / 2) is None  # no round due yet
    round_ = handle.advance_clock(PRODUCTION.settle_interval / 2)
    assert round_ is not None and round_["settled"] == "0"  # due, but the total is under 0.004 0G
    assert handle.unsettled(user) == before
    while handle.unsettled(user) < PRODUCTION.min_settlement_fee:
        assert ask(net, generation=generation).status_code == 200
    owed = handle.unsettled(user)
    round_ = handle.advance_clock(PRODUCTION.settle_interval)
    assert round_ is not None and int(round_["settled"]) == owed
    assert handle.unsettled(user) == 0
