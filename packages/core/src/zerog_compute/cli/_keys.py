"""``api-key create|revoke|revoke-all``: persistent ``app-sk-`` keys, revocable on chain."""

from __future__ import annotations

from datetime import datetime, timezone

from ._session import Session


def _when(ms: int) -> str:
    if not ms:
        return "never"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def create(s: Session) -> int:
    """Sign a key locally and print it once: the key alone on stdout, what it is on stderr."""
    provider: str = s.args.provider
    zg = s.client()
    with s.ui.working(f"Creating an API key for {provider}"):
        key = zg.api_keys.create(provider, token_id=s.args.token_id, expires_in=s.args.expires_in)
    secret = key.key.get_secret_value()
    if s.ui.json:
        s.ui.emit(
            {
                "provider": key.provider,
                "token_id": key.token_id,
                "created_at": key.created_at,
                "expires_at": key.expires_at,
                "key": secret,
            }
        )
        return 0
    s.ui.note(
        f"API key {key.token_id} for {key.provider}, expires {_when(key.expires_at)}. It is shown only now: "
        "store it like a password. Revoke it with "
        f"`zerog api-key revoke {key.provider} {key.token_id}`.",
        style="yellow",
    )
    s.ui.line(secret)
    return 0


def revoke(s: Session) -> int:
    provider: str = s.args.provider
    token_id: int = s.args.token_id
    zg = s.client()
    s.ui.confirm(
        "api-key revoke",
        f"Revoke API key {token_id} for provider {provider} on {zg.network.name}.",
        ["A revoked id cannot be used again until `zerog api-key revoke-all` resets them."],
    )
    with s.ui.working(f"Revoking API key {token_id}"):
        zg.api_keys.revoke(provider, token_id)
    if s.ui.json:
        s.ui.emit({"action": "revoke", "provider": provider, "token_id": token_id})
    else:
        s.ui.note(f"API key {token_id} for {provider} is revoked.", style="green")
    return 0


def revoke_all(s: Session) -> int:
    provider: str = s.args.provider
    zg = s.client()
    s.ui.confirm(
        "api-key revoke-all",
        f"Revoke every API key and session token for provider {provider} on {zg.network.name}.",
        ["Every key issued so far stops working; new keys and sessions can be created afterwards."],
    )
    with s.ui.working("Revoking all API keys"):
        zg.api_keys.revoke_all(provider)
    if s.ui.json:
        s.ui.emit({"action": "revoke-all", "provider": provider})
    else:
        s.ui.note(f"Every API key and session token for {provider} is revoked.", style="green")
    return 0
