"""Persistent API keys: ``app-sk-`` tokens with a token id (0–254), revocable on chain.

A key is signed locally and never sent anywhere by this module; revoking one (``revokeToken``)
or all of them (``revokeAllTokens``, which also bumps the generation and so invalidates the
ephemeral session tokens) is a chain transaction through the wallet's lane.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, SecretStr

from . import contracts, ledger
from ._context import Context
from ._io import Flow
from .auth import EPHEMERAL_TOKEN_ID, make_token
from .errors import ConfigurationError, NotAcknowledgedError
from .services import checksum

MAX_PERSISTENT_ID = EPHEMERAL_TOKEN_ID - 1


class ApiKey(BaseModel):
    """A persistent key. ``key`` is secret: ``api_key.key.get_secret_value()`` reveals it."""

    model_config = ConfigDict(frozen=True)

    provider: str
    token_id: int
    created_at: int
    """Unix milliseconds."""
    expires_at: int
    """Unix milliseconds; 0 = never."""
    key: SecretStr


def _free_id(bitmap: int) -> int:
    for token_id in range(MAX_PERSISTENT_ID + 1):
        if not bitmap >> token_id & 1:
            return token_id
    raise ConfigurationError("all 255 API key ids are revoked: call zg.api_keys.revoke_all(provider) to reset them")


def create(
    ctx: Context, provider: str, *, token_id: int | None = None, expires_in: float | None = None
) -> Flow[ApiKey]:
    """Sign a new persistent key for ``provider`` (``expires_in`` seconds; None = never expires)."""
    address = checksum(provider)
    account = yield from ledger.sub_account(ctx, address)
    if account is None:
        raise NotAcknowledgedError(f"no sub-account with {address}: open one with zg.acknowledge(provider, amount=1)")
    if token_id is None:
        token_id = _free_id(account.revoked_bitmap)
    elif not 0 <= token_id <= MAX_PERSISTENT_ID:
        raise ConfigurationError(f"token_id must be between 0 and {MAX_PERSISTENT_ID}, got {token_id}")
    elif account.revoked_bitmap >> token_id & 1:
        raise ConfigurationError(f"token id {token_id} is revoked: pick another or call zg.api_keys.revoke_all()")
    if expires_in is not None and expires_in <= 0:
        raise ConfigurationError("expires_in must be a positive number of seconds (or None for no expiry)")
    now = int(time.time() * 1000)
    expires_at = 0 if expires_in is None else now + int(expires_in * 1000)
    token = make_token(
        ctx.wallet,
        address,
        generation=account.generation,
        token_id=token_id,
        timestamp_ms=now,
        expires_at_ms=expires_at,
    )
    return ApiKey(provider=address, token_id=token_id, created_at=now, expires_at=expires_at, key=SecretStr(token))


def revoke(ctx: Context, provider: str, token_id: int) -> Flow[None]:
    """Revoke one persistent key on chain."""
    address = checksum(provider)
    if token_id == EPHEMERAL_TOKEN_ID:
        raise ConfigurationError("session tokens (id 255) cannot be revoked one by one: use revoke_all(provider)")
    if not 0 <= token_id <= MAX_PERSISTENT_ID:
        raise ConfigurationError(f"token_id must be between 0 and {MAX_PERSISTENT_ID}, got {token_id}")
    yield from contracts.transact(
        ctx.wallet, ctx.network.chain_id, ctx.nonces, ctx.inference, "revokeToken", address, token_id
    )


def revoke_all(ctx: Context, provider: str) -> Flow[None]:
    """Revoke every key and session token for ``provider`` (the on-chain generation goes up)."""
    address = checksum(provider)
    yield from contracts.transact(
        ctx.wallet, ctx.network.chain_id, ctx.nonces, ctx.inference, "revokeAllTokens", address
    )
    ctx.sessions.invalidate(address)
    ctx.generations.drop(address.lower())
