"""Session tokens: the SDK 0.9.0 test vectors (client-protocol §7.6), validation, parsing and the cache."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from zerog_compute.auth import (
    EPHEMERAL_TOKEN_MAX_DURATION_MS,
    SessionCache,
    bearer,
    make_token,
    new_nonce,
    parse_token,
)
from zerog_compute.errors import ConfigurationError
from zerog_compute.signer import Wallet

KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
ADDRESS = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c"
PROVIDER = "0xa48f01287233509FD694a22Bf840225062E67836"
NOW = 1750000000000
NODE_NONCE = "1750000000000-4fzzzxjylrx0000000"
HOUR = 3_600_000

RAW_EPHEMERAL = (
    '{"address":"0xFCAd0B19bB29D4674531d6f115237E16AfCE377c","provider":"0xa48f01287233509FD694a22Bf840225062E67836",'
    '"timestamp":1750000000000,"expiresAt":1750086400000,"nonce":"1750000000000-4fzzzxjylrx0000000",'
    '"generation":0,"tokenId":255}'
)
SIG_EPHEMERAL = (
    "0x4168628441e8cff45efc518d2c6cea2814feeca09ae4ee31137c355060e089d5"
    "05f9aa7fdc9c188f428810e56c1badabfdacccee16d5f630f70ffc3125e38dd41c"
)
AUTHORIZATION = (
    "Bearer app-sk-eyJhZGRyZXNzIjoiMHhGQ0FkMEIxOWJCMjlENDY3NDUzMWQ2ZjExNTIzN0UxNkFmQ0UzNzdjIiwicHJvdmlkZXIiOiIweGE0"
    "OGYwMTI4NzIzMzUwOUZENjk0YTIyQmY4NDAyMjUwNjJFNjc4MzYiLCJ0aW1lc3RhbXAiOjE3NTAwMDAwMDAwMDAsImV4cGlyZXNBdCI6MTc1MD"
    "A4NjQwMDAwMCwibm9uY2UiOiIxNzUwMDAwMDAwMDAwLTRmenp6eGp5bHJ4MDAwMDAwMCIsImdlbmVyYXRpb24iOjAsInRva2VuSWQiOjI1NX18"
    "MHg0MTY4NjI4NDQxZThjZmY0NWVmYzUxOGQyYzZjZWEyODE0ZmVlY2EwOWFlNGVlMzExMzdjMzU1MDYwZTA4OWQ1MDVmOWFhN2ZkYzljMTg4Zj"
    "QyODgxMGU1NmMxYmFkYWJmZGFjY2NlZTE2ZDVmNjMwZjcwZmZjMzEyNWUzOGRkNDFj"
)
RAW_PERSISTENT = RAW_EPHEMERAL.replace('"expiresAt":1750086400000', '"expiresAt":0').replace(
    '"tokenId":255', '"tokenId":3'
)
SIG_PERSISTENT = (
    "0x0b0bdc9508f56e22640d08ccc885e0e0d049d7ced23130ee744e2aa773863230"
    "3f0958ccbd146f14efa27179fb9444e035d334c463c6420369aa3c08e7d639be1c"
)

WALLET = Wallet(KEY)
OTHER = Wallet("0x" + "11" * 32)


def _decode(token: str) -> tuple[str, str]:
    raw, _, signature = base64.b64decode(token.removeprefix("app-sk-")).decode().partition("|")
    return raw, signature


# ---------------------------------------------------------------------------------------------------------
# the SDK vectors


def test_ephemeral_vector_is_byte_identical() -> None:
    token = make_token(WALLET, PROVIDER, timestamp_ms=NOW, nonce=NODE_NONCE)
    assert bearer(token) == AUTHORIZATION
    assert _decode(token) == (RAW_EPHEMERAL, SIG_EPHEMERAL)


def test_persistent_token_id_3_vector() -> None:
    token = make_token(WALLET, PROVIDER, token_id=3, timestamp_ms=NOW, nonce=NODE_NONCE)
    assert _decode(token) == (RAW_PERSISTENT, SIG_PERSISTENT)


def test_an_eth_account_local_account_signs_the_same_token() -> None:
    local = Account.from_key(KEY)
    assert make_token(local, PROVIDER, timestamp_ms=NOW, nonce=NODE_NONCE) == AUTHORIZATION.removeprefix("Bearer ")


def test_provider_is_written_exactly_as_passed() -> None:
    token = make_token(WALLET, PROVIDER.lower(), timestamp_ms=NOW, nonce=NODE_NONCE)
    assert f'"provider":"{PROVIDER.lower()}"' in _decode(token)[0]


# ---------------------------------------------------------------------------------------------------------
# defaults and validation


def test_default_nonce_is_32_lowercase_hex_and_unique() -> None:
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", nonce) for nonce in nonces)
    claims = parse_token(make_token(WALLET, PROVIDER))
    assert re.fullmatch(r"[0-9a-f]{32}", claims.nonce)


def test_default_timestamp_is_now_and_ephemeral_lasts_24h() -> None:
    claims = parse_token(make_token(WALLET, PROVIDER, generation=4))
    assert abs(claims.timestamp - time.time() * 1000) < 60_000
    assert claims.expires_at - claims.timestamp == EPHEMERAL_TOKEN_MAX_DURATION_MS
    assert (claims.generation, claims.token_id, claims.ephemeral) == (4, 255, True)


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (NOW + HOUR, NOW + HOUR),
        (NOW + 24 * HOUR, NOW + 24 * HOUR),
        (NOW, NOW + 24 * HOUR),  # duration 0 -> 24 h (SDK)
        (NOW - 5, NOW + 24 * HOUR),  # negative duration -> 24 h (SDK)
        (0, NOW + 24 * HOUR),
    ],
)
def test_ephemeral_expiry_rules(expires_at: int, expected: int) -> None:
    claims = parse_token(make_token(WALLET, PROVIDER, timestamp_ms=NOW, expires_at_ms=expires_at))
    assert claims.expires_at == expected


def test_ephemeral_longer_than_24h_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="cannot exceed 24 hours"):
        make_token(WALLET, PROVIDER, timestamp_ms=NOW, expires_at_ms=NOW + 24 * HOUR + 1)


def test_persistent_expiry_rules() -> None:
    assert parse_token(make_token(WALLET, PROVIDER, token_id=0, timestamp_ms=NOW)).expires_at == 0
    later = NOW + 30 * 24 * HOUR
    assert parse_token(
        make_token(WALLET, PROVIDER, token_id=254, timestamp_ms=NOW, expires_at_ms=later)
    ).expires_at == (later)
    with pytest.raises(ConfigurationError, match="later than"):
        make_token(WALLET, PROVIDER, token_id=1, timestamp_ms=NOW, expires_at_ms=NOW)
    with pytest.raises(ConfigurationError, match="expires_at_ms"):
        make_token(WALLET, PROVIDER, token_id=1, timestamp_ms=NOW, expires_at_ms=-1)


@pytest.mark.parametrize("token_id", [-1, 256, True, 3.0, "3"])
def test_token_id_must_be_0_to_255(token_id: object) -> None:
    with pytest.raises(ConfigurationError, match="token_id"):
        make_token(WALLET, PROVIDER, token_id=token_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", ["", "0x123", PROVIDER[2:], PROVIDER + "00", "0x" + "zz" * 20, None])
def test_provider_must_be_an_address(provider: object) -> None:
    with pytest.raises(ConfigurationError, match="provider must be"):
        make_token(WALLET, provider)  # type: ignore[arg-type]


@pytest.mark.parametrize("nonce", ["", "a|b", "é", "tab\t", "x" * 257, 5])
def test_nonce_must_be_printable_ascii_without_pipe(nonce: object) -> None:
    with pytest.raises(ConfigurationError, match="nonce"):
        make_token(WALLET, PROVIDER, nonce=nonce)  # type: ignore[arg-type]


@pytest.mark.parametrize("generation", [-1, 2**53, True])
def test_generation_must_be_a_safe_non_negative_integer(generation: object) -> None:
    with pytest.raises(ConfigurationError, match="generation"):
        make_token(WALLET, PROVIDER, generation=generation)  # type: ignore[arg-type]


def test_nonce_with_json_specials_roundtrips() -> None:
    nonce = 'a"b\\c d'
    token = make_token(WALLET, PROVIDER, nonce=nonce, timestamp_ms=NOW)
    raw, _ = _decode(token)
    assert '"nonce":"a\\"b\\\\c d"' in raw
    assert parse_token(token).nonce == nonce


# ---------------------------------------------------------------------------------------------------------
# parse_token


@pytest.mark.parametrize("form", [AUTHORIZATION, AUTHORIZATION[7:], AUTHORIZATION[14:], f"  {AUTHORIZATION}\n"])
def test_parse_accepts_all_forms(form: str) -> None:
    claims = parse_token(form)
    assert claims.address == ADDRESS and claims.provider == PROVIDER
    assert (claims.timestamp, claims.expires_at, claims.nonce) == (NOW, NOW + 24 * HOUR, NODE_NONCE)
    assert (claims.generation, claims.token_id, claims.signature) == (0, 255, SIG_EPHEMERAL)
    assert claims.raw_message == RAW_EPHEMERAL
    assert claims.recovered_address() == ADDRESS


def _b64(text: str) -> str:
    return "app-sk-" + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "Bearer ",
        "app-sk-!!!!",
        "app-sk-abc",  # bad padding
        _b64("no separator here"),
        _b64("not json|0x00"),
        _b64("[1,2]|0x00"),
        _b64('{"address":"0x1"}|0x00'),
        _b64(RAW_EPHEMERAL.replace('"tokenId":255', '"tokenId":"255"') + "|0x00"),
        "app-sk-" + base64.b64encode(b"\xff\xfe|x").decode(),
    ],
)
def test_parse_rejects_garbage(garbage: str) -> None:
    with pytest.raises(ConfigurationError, match="not a session token"):
        parse_token(garbage)


def test_parse_error_does_not_echo_the_token() -> None:
    broken = _b64(RAW_EPHEMERAL.replace('"nonce":"1750000000000-4fzzzxjylrx0000000",', "") + "|" + SIG_EPHEMERAL)
    with pytest.raises(ConfigurationError, match="nonce") as info:
        parse_token(broken)
    assert SIG_EPHEMERAL[2:20] not in str(info.value)
    assert broken[10:40] not in str(info.value)


def test_recovered_address_of_a_tampered_token_differs() -> None:
    raw, signature = _decode(AUTHORIZATION[7:])
    tampered = _b64(raw.replace('"generation":0', '"generation":1') + "|" + signature)
    assert parse_token(tampered).recovered_address() != ADDRESS
    with pytest.raises(ConfigurationError, match="signature is unusable"):
        parse_token(_b64(raw + "|0x1234")).recovered_address()


@given(st.text(max_size=200))
def test_parse_never_raises_anything_but_configuration_error(text: str) -> None:
    for candidate in (text, _b64(text)):
        with contextlib.suppress(ConfigurationError):
            parse_token(candidate)


@settings(max_examples=25, deadline=None)
@given(
    generation=st.integers(0, 2**53 - 1),
    timestamp=st.integers(0, 2**52),
    token_id=st.integers(0, 255),
    nonce=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="|"), min_size=1),
)
def test_make_parse_roundtrip(generation: int, timestamp: int, token_id: int, nonce: str) -> None:
    token = make_token(WALLET, PROVIDER, generation=generation, timestamp_ms=timestamp, token_id=token_id, nonce=nonce)
    claims = parse_token(token)
    assert (claims.generation, claims.timestamp, claims.token_id, claims.nonce) == (
        generation,
        timestamp,
        token_id,
        nonce,
    )
    raw, _ = _decode(token)
    assert list(json.loads(raw)) == ["address", "provider", "timestamp", "expiresAt", "nonce", "generation", "tokenId"]
    assert claims.recovered_address() == ADDRESS


# ---------------------------------------------------------------------------------------------------------
# SessionCache


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _token(wallet: Wallet = WALLET, provider: str = PROVIDER, generation: int = 0, at: int = NOW) -> str:
    return make_token(wallet, provider, generation=generation, timestamp_ms=at)


def test_cache_returns_the_token_until_one_hour_before_expiry() -> None:
    clock = Clock()
    cache = SessionCache(clock=clock)
    token = _token()
    cache.put(PROVIDER, 0, token)
    assert cache.get(PROVIDER, 0) == token
    clock.now = NOW + 23 * HOUR - 1
    assert cache.get(PROVIDER, 0) == token
    clock.now = NOW + 23 * HOUR  # expiresAt == now + margin: refresh
    assert cache.get(PROVIDER, 0) is None
    assert cache.get(PROVIDER, 0, NOW) is None  # the stale entry was dropped


def test_cache_now_argument_and_custom_margin() -> None:
    cache = SessionCache(refresh_margin_ms=0, clock=Clock())
    cache.put(PROVIDER, 0, _token())
    assert cache.get(PROVIDER, 0, NOW + 24 * HOUR - 1) is not None
    assert cache.get(PROVIDER, 0, NOW + 24 * HOUR) is None


def test_cache_is_keyed_by_lowercase_provider_and_checks_generation() -> None:
    cache = SessionCache(clock=Clock())
    token = _token(provider=PROVIDER.lower())
    cache.put(PROVIDER, 0, token)
    assert cache.get(PROVIDER.lower(), 0) == token
    assert cache.get(PROVIDER.upper().replace("0X", "0x"), 0) == token
    assert cache.get(PROVIDER, 1) is None  # revokeAllTokens bumped the generation
    assert cache.get(PROVIDER, 0) is None


def test_cache_invalidate() -> None:
    other_provider = "0x" + "22" * 20
    cache = SessionCache(clock=Clock())
    cache.put(PROVIDER, 0, _token())
    cache.put(other_provider, 0, _token(provider=other_provider))
    cache.invalidate(PROVIDER.lower())
    assert cache.get(PROVIDER, 0) is None
    assert cache.get(other_provider, 0) is not None
    cache.invalidate()
    assert cache.get(other_provider, 0) is None


def test_cache_separates_users() -> None:
    cache = SessionCache(clock=Clock())
    mine, theirs = _token(), _token(OTHER)
    cache.put(PROVIDER, 0, mine)
    cache.put(PROVIDER, 0, theirs)
    assert cache.get(PROVIDER, 0, user=ADDRESS) == mine
    assert cache.get(PROVIDER, 0, user=OTHER.address.lower()) == theirs
    assert cache.get(PROVIDER, 0) is None  # ambiguous without a user: never hand out someone else's token
    cache.invalidate(PROVIDER, user=OTHER.address)
    assert cache.get(PROVIDER, 0) == mine


def test_bound_cache_refuses_other_users_tokens() -> None:
    cache = SessionCache(user=ADDRESS.lower(), clock=Clock())
    with pytest.raises(ConfigurationError, match="not to this cache's user"):
        cache.put(PROVIDER, 0, _token(OTHER))
    cache.put(PROVIDER, 0, _token())
    assert cache.get(PROVIDER, 0) is not None


def test_cache_put_validation() -> None:
    cache = SessionCache(clock=Clock())
    with pytest.raises(ConfigurationError, match="ephemeral"):
        cache.put(PROVIDER, 0, make_token(WALLET, PROVIDER, token_id=1))
    with pytest.raises(ConfigurationError, match="provider and generation"):
        cache.put("0x" + "22" * 20, 0, _token())
    with pytest.raises(ConfigurationError, match="provider and generation"):
        cache.put(PROVIDER, 2, _token())
    with pytest.raises(ConfigurationError, match="not a session token"):
        cache.put(PROVIDER, 0, "garbage")


def test_cache_stores_the_canonical_token_form() -> None:
    cache = SessionCache(clock=Clock())
    token = _token()
    cache.put(PROVIDER, 0, bearer(token))
    assert cache.get(PROVIDER, 0) == token


def test_get_or_create_reuses_then_refreshes() -> None:
    clock = Clock()
    cache = SessionCache(clock=clock)
    first = cache.get_or_create(WALLET, PROVIDER)
    assert parse_token(first).timestamp == NOW
    assert cache.get_or_create(WALLET, PROVIDER) == first
    clock.now = NOW + 23 * HOUR
    second = cache.get_or_create(WALLET, PROVIDER)
    assert second != first and parse_token(second).timestamp == clock.now
    third = cache.get_or_create(WALLET, PROVIDER, generation=1)
    assert parse_token(third).generation == 1


def test_cache_is_thread_safe() -> None:
    cache = SessionCache(clock=Clock())
    tokens = [_token(provider="0x" + f"{i:040x}") for i in range(8)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            provider = "0x" + f"{index % 8:040x}"
            for _ in range(200):
                cache.put(provider, 0, tokens[index % 8])
                found = cache.get(provider, 0, user=ADDRESS)
                assert found in (None, tokens[index % 8])
                if index % 3 == 0:
                    cache.invalidate(provider)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
