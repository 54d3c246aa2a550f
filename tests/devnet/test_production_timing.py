"""The production timing profile: the account cache delays acknowledgement and revocation, settlement waits for
its timer and defers totals under 0.004 0G — all on a clock the test moves, so nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from zerog_compute import InvalidTokenError, ZeroG
from zerog_devnet import PRODUCTION, Devnet, ProviderSpec
from zerog_devnet.chain import contract, transact

from ..core.conftest import devnet_network
from .conftest import make_auth
from .test_sdk_interop import run_node

pytestmark = pytest.mark.devnet
PRICE = 10**13
"""Per token: a scripted answer costs about 0.0003 0G, so the 0.004 0G minimum takes a dozen requests."""
CHAT = {"model": "zerog-devnet/scripted-chat", "messages": [{"role": "user", "content": "What is 2 + 3?"}]}


@pytest.fixture(scope="module")
def net() -> Iterator[Devnet]:
    spec = ProviderSpec("prod", input_price=PRICE, output_price=PRICE, rpm=600, burst=50, timing=PRODUCTION)
    with Devnet.start([spec], users=3, settle_interval=3600, router=False) as devnet:
        devnet.fund(devnet.users[0], ["prod"])  # user 1 is funded by the test that watches it take effect, user 2
        # by the TS SDK
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


def generation(net: Devnet) -> int:
    inference = contract(net.w3, "InferenceServing", net.contracts.inference)
    return int(inference.functions.getAccount(net.users[0].address, net.provider("prod").info.address).call()[9])


def test_revoke_all_refuses_new_tokens_until_the_cache_expires(net: Devnet) -> None:
    handle, old = net.provider("prod"), generation(net)
    handle.advance_clock(PRODUCTION.account_cache_ttl + 1)
    assert ask(net, generation=old).status_code == 200  # caches the current generation
    inference = contract(net.w3, "InferenceServing", net.contracts.inference)
    transact(net.w3, inference.functions.revokeAllTokens(handle.info.address), net.users[0].address)
    assert ask(net, generation=old).status_code == 200  # the old token still passes: the cache is stale
    future = ask(net, generation=old + 1)
    assert future.status_code == 400
    assert future.json() == {"error": "validate session: invalid session token (future generation)"}
    handle.advance_clock(PRODUCTION.account_cache_ttl + 1)
    assert ask(net, generation=old + 1).status_code == 200
    stale = ask(net, generation=old)
    assert stale.status_code == 400 and "generation expired" in stale.json()["error"]


def test_settlement_waits_for_its_timer_and_the_minimum(net: Devnet) -> None:
    handle, user = net.provider("prod"), net.users[0].address
    handle.advance_clock(PRODUCTION.account_cache_ttl + 1)  # whatever earlier tests cached is stale
    handle.advance_clock(PRODUCTION.settle_interval)  # start from a fresh timer period
    current = generation(net)
    assert ask(net, generation=current).status_code == 200
    before = handle.unsettled(user)
    assert 0 < before < PRODUCTION.min_settlement_fee
    assert handle.advance_clock(PRODUCTION.settle_interval / 2) is None  # no round due yet
    round_ = handle.advance_clock(PRODUCTION.settle_interval / 2)
    assert round_ is not None and round_["settled"] == "0"  # due, but the total is under 0.004 0G
    assert handle.unsettled(user) == before
    while handle.unsettled(user) < PRODUCTION.min_settlement_fee:
        assert ask(net, generation=current).status_code == 200
    owed = handle.unsettled(user)
    round_ = handle.advance_clock(PRODUCTION.settle_interval)
    assert round_ is not None and int(round_["settled"]) == owed
    assert handle.unsettled(user) == 0


def test_the_client_after_revoke_all_waits_out_the_providers_cache(net: Devnet) -> None:
    """zerog-compute signs a token for the new generation at once; a production broker refuses it ("future
    generation", with advice) until its cached account expires, then serves it."""
    handle = net.provider("prod")
    with ZeroG(private_key=net.users[0].private_key, network=devnet_network(net)) as zg:
        handle.advance_clock(PRODUCTION.account_cache_ttl + 1)
        zg.chat.completions.create(provider=handle.info.address, messages=CHAT["messages"])
        zg.api_keys.revoke_all(handle.info.address)
        with pytest.raises(InvalidTokenError, match="future generation") as refused:
            zg.chat.completions.create(provider=handle.info.address, messages=CHAT["messages"])
        assert "10 minutes" in str(refused.value)
        handle.advance_clock(PRODUCTION.account_cache_ttl + 1)
        assert zg.chat.completions.create(provider=handle.info.address, messages=CHAT["messages"]).choices


@pytest.mark.node
def test_the_ts_sdk_meets_the_same_delay_after_revoke_all(net: Devnet) -> None:
    handle = net.provider("prod")
    handle.advance_clock(PRODUCTION.account_cache_ttl + 1)
    env = {"ZG_RPC_URL": net.rpc_url, "ZG_USER_KEY": net.users[2].private_key, "ZG_PROVIDER": handle.info.address}
    first = run_node("revoke", env)
    assert first["before"]["status"] == 200
    assert first["revoked"]["status"] == 400
    assert "invalid session token (future generation)" in first["revoked"]["body"]
    handle.advance_clock(PRODUCTION.account_cache_ttl + 1)
    assert run_node("again", env)["after"]["status"] == 200
