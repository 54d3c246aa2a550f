"""Persistent API keys: created locally, accepted by the provider, revoked on chain."""

from __future__ import annotations

import httpx
import pytest

from zerog_compute import ConfigurationError, InvalidTokenError, NotAcknowledgedError, ZeroG, forget_wallet_states
from zerog_devnet import Devnet

from .conftest import provider

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "hi"}]


def call_with(net: Devnet, key: str) -> httpx.Response:
    info = net.provider("chat-a").info
    body = {"model": info.model, "messages": ASK}
    return httpx.post(f"{info.url}/v1/proxy/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


def test_create_use_and_revoke_a_key(zg: ZeroG, devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    key = zg.api_keys.create(provider(devnet))
    assert key.token_id == 0 and key.expires_at == 0
    assert "app-sk-" not in repr(key) and "app-sk-" not in key.model_dump_json()
    secret = key.key.get_secret_value()
    assert call_with(devnet, secret).status_code == 200
    zg.api_keys.revoke(provider(devnet), key.token_id)
    assert call_with(devnet, secret).json() == {"error": "validate session: session token has been revoked"}
    assert zg.api_keys.create(provider(devnet)).token_id == 1  # the revoked id is skipped
    with pytest.raises(ConfigurationError, match="revoked"):
        zg.api_keys.create(provider(devnet), token_id=0)


def test_revoke_all_rotates_session_tokens(zg: ZeroG, devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    key = zg.api_keys.create(provider(devnet), expires_in=3600).key.get_secret_value()
    zg.chat.completions.create(provider=provider(devnet), messages=ASK)
    zg.api_keys.revoke_all(provider(devnet))
    assert "generation expired" in call_with(devnet, key).json()["error"]
    reply = zg.chat.completions.create(provider=provider(devnet), messages=ASK)  # a new session, new generation
    assert reply.zerog is not None


def test_stale_session_is_dropped_and_error_says_why(devnet: Devnet, zg: ZeroG) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    zg.chat.completions.create(provider=provider(devnet), messages=ASK)
    forget_wallet_states()  # `other` then shares no state with zg, as a client in another process would not
    other = ZeroG(private_key=devnet.users[0].private_key, network=zg.network)
    other.api_keys.revoke_all(provider(devnet))  # behind zg's back
    with pytest.raises(InvalidTokenError, match="revoked"):
        zg.chat.completions.create(provider=provider(devnet), messages=ASK)
    assert zg.chat.completions.create(provider=provider(devnet), messages=ASK).zerog is not None
    other.close()


def test_bad_key_requests(zg: ZeroG, devnet: Devnet) -> None:
    with pytest.raises(NotAcknowledgedError):
        zg.api_keys.create(provider(devnet))
    with pytest.raises(ConfigurationError, match="revoke_all"):
        zg.api_keys.revoke(provider(devnet), 255)
