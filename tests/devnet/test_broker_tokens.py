"""Session-token validation: the client-protocol §7.6 vector and every failure row of provider §3.1."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from zerog_devnet.broker.tokens import (
    AccountState,
    SessionError,
    SessionToken,
    check_claims,
    check_revocation,
    parse_authorization,
    validate_session,
    verify_signature,
)

USER_KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
USER = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c"
PROVIDER = "0xa48f01287233509FD694a22Bf840225062E67836"
NOW_MS = 1_750_000_001_000
VECTOR_RAW = (
    '{"address":"0xFCAd0B19bB29D4674531d6f115237E16AfCE377c",'
    '"provider":"0xa48f01287233509FD694a22Bf840225062E67836","timestamp":1750000000000,'
    '"expiresAt":1750086400000,"nonce":"1750000000000-4fzzzxjylrx0000000","generation":0,"tokenId":255}'
)
VECTOR_SIGNATURE = (
    "0x4168628441e8cff45efc518d2c6cea2814feeca09ae4ee31137c355060e089d5"
    "05f9aa7fdc9c188f428810e56c1badabfdacccee16d5f630f70ffc3125e38dd41c"
)
VECTOR_HEADER = (
    "Bearer app-sk-eyJhZGRyZXNzIjoiMHhGQ0FkMEIxOWJCMjlENDY3NDUzMWQ2ZjExNTIzN0UxNkFmQ0UzNzdjIiwicHJvdmlkZXIi"
    "OiIweGE0OGYwMTI4NzIzMzUwOUZENjk0YTIyQmY4NDAyMjUwNjJFNjc4MzYiLCJ0aW1lc3RhbXAiOjE3NTAwMDAwMDAwMDAsImV4cGly"
    "ZXNBdCI6MTc1MDA4NjQwMDAwMCwibm9uY2UiOiIxNzUwMDAwMDAwMDAwLTRmenp6eGp5bHJ4MDAwMDAwMCIsImdlbmVyYXRpb24iOjAs"
    "InRva2VuSWQiOjI1NX18MHg0MTY4NjI4NDQxZThjZmY0NWVmYzUxOGQyYzZjZWEyODE0ZmVlY2EwOWFlNGVlMzExMzdjMzU1MDYwZTA4"
    "OWQ1MDVmOWFhN2ZkYzljMTg4ZjQyODgxMGU1NmMxYmFkYWJmZGFjY2NlZTE2ZDVmNjMwZjcwZmZjMzEyNWUzOGRkNDFj"
)
PERSISTENT_SIGNATURE = (
    "0x0b0bdc9508f56e22640d08ccc885e0e0d049d7ced23130ee744e2aa77386323"
    "03f0958ccbd146f14efa27179fb9444e035d334c463c6420369aa3c08e7d639be1c"
)


def raw_token(**overrides: Any) -> str:
    """The §7.6 token with field overrides (``None`` removes a field), compact JSON."""
    token: dict[str, Any] = json.loads(VECTOR_RAW)
    for key, value in overrides.items():
        if value is None:
            token.pop(key, None)
        else:
            token[key] = value
    return json.dumps(token, separators=(",", ":"))


def sign(raw: str, key: str = USER_KEY) -> str:
    signed = Account.sign_message(encode_defunct(primitive=keccak(raw.encode())), key)
    return "0x" + bytes(signed.signature).hex()


def header(raw: str, signature: str | None = None) -> str:
    payload = f"{raw}|{sign(raw) if signature is None else signature}".encode()
    return "Bearer app-sk-" + base64.b64encode(payload).decode()


def validate(value: str | None, account: AccountState | None = None, now_ms: int = NOW_MS) -> SessionToken:
    return validate_session(value, provider_address=PROVIDER, now_ms=now_ms, account_lookup=lambda _address: account)


def rejected(value: str | None, account: AccountState | None = None, now_ms: int = NOW_MS) -> str:
    with pytest.raises(SessionError) as info:
        validate(value, account, now_ms)
    assert str(info.value) == info.value.message
    return info.value.message


# ---------------------------------------------------------------------------------------------------------
# accepted tokens


def test_vector_header_is_what_the_helpers_build() -> None:
    assert sign(VECTOR_RAW) == VECTOR_SIGNATURE
    assert header(VECTOR_RAW) == VECTOR_HEADER


def test_vector_token_validates() -> None:
    token = validate(VECTOR_HEADER)
    assert token == SessionToken(
        address=USER,
        provider=PROVIDER,
        timestamp=1_750_000_000_000,
        expires_at=1_750_086_400_000,
        nonce="1750000000000-4fzzzxjylrx0000000",
        generation=0,
        token_id=255,
        raw_message=VECTOR_RAW,
        signature=VECTOR_SIGNATURE,
    )


def test_persistent_vector_validates_with_a_clean_account() -> None:
    raw = raw_token(expiresAt=0, tokenId=3)
    assert sign(raw) == PERSISTENT_SIGNATURE
    token = validate(header(raw, PERSISTENT_SIGNATURE), AccountState(generation=0, revoked_bitmap=1 << 4))
    assert (token.token_id, token.expires_at) == (3, 0)


def test_provider_match_is_case_insensitive() -> None:
    token = validate_session(
        VECTOR_HEADER, provider_address=PROVIDER.lower(), now_ms=NOW_MS, account_lookup=lambda _a: None
    )
    assert token.provider == PROVIDER


def test_expiry_boundary_uses_whole_seconds() -> None:
    last_valid_ms = 1_750_086_400_999  # now_s == expiresAt / 1000 is still valid
    assert validate(VECTOR_HEADER, now_ms=last_valid_ms).address == USER
    assert rejected(VECTOR_HEADER, now_ms=1_750_086_401_000) == "session token expired"


def test_missing_numeric_fields_default_to_zero() -> None:
    raw = raw_token(expiresAt=None, generation=None, tokenId=None)
    token = validate(header(raw), AccountState(generation=0, revoked_bitmap=0))
    assert (token.expires_at, token.generation, token.token_id) == (0, 0, 0)


def test_json_keys_match_case_insensitively_and_nulls_are_ignored() -> None:
    raw = raw_token(tokenId=None, expiresAt=None, TokenID=7, EXPIRESAT=1_750_086_400_000, generation=None)
    raw = raw[:-1] + ',"generation":null}'
    token = validate(header(raw))
    assert (token.token_id, token.expires_at, token.generation) == (7, 1_750_086_400_000, 0)


def test_signature_hex_may_use_upper_case_and_0X() -> None:
    signature = "0X" + VECTOR_SIGNATURE[2:].upper()
    assert validate(header(VECTOR_RAW, signature)).signature == signature


def test_raw_message_is_split_on_the_first_pipe() -> None:
    token = parse_authorization(header(VECTOR_RAW, VECTOR_SIGNATURE + "|extra"))
    assert token.signature == VECTOR_SIGNATURE + "|extra"
    assert rejected(header(VECTOR_RAW, VECTOR_SIGNATURE + "|extra")).startswith("invalid signature format")


# ---------------------------------------------------------------------------------------------------------
# steps 1-4


@pytest.mark.parametrize("value", [None, "", "Bearer abc", "bearer app-sk-abc", "Basic app-sk-abc"])
def test_missing_or_foreign_header(value: str | None) -> None:
    assert rejected(value) == (
        "missing or invalid Authorization header, must be Bearer app-sk-<base64(rawMessage:signature)>"
    )


@pytest.mark.parametrize(
    ("payload", "offset"),
    [("!!!!", 0), ("QQ", 0), ("QUJDRA", 4), ("QQ==QQ==", 4), ("QUJD*", 4), ("Q===", 1), ("QQ=", 3)],
)
def test_bad_base64(payload: str, offset: int) -> None:
    expected = f"invalid base64 in Authorization header: illegal base64 data at input byte {offset}"
    assert rejected("Bearer app-sk-" + payload) == expected


def test_unpadded_base64_is_rejected() -> None:
    unpadded = base64.b64encode(f"{VECTOR_RAW}|{VECTOR_SIGNATURE}x".encode()).decode().rstrip("=")
    assert rejected("Bearer app-sk-" + unpadded).startswith("invalid base64 in Authorization header: ")


def test_no_pipe() -> None:
    value = "Bearer app-sk-" + base64.b64encode(VECTOR_RAW.encode()).decode()
    assert rejected(value) == "invalid Authorization payload, expect base64(rawMessage:signature)"


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("{bad", "invalid character 'b' looking for beginning of object key string"),
        ("", "unexpected end of JSON input"),
        ('{"address":"0x1"', "unexpected end of JSON input"),
        ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        ('{"a":[1 2]}', "invalid character '2' after array element"),
        ('{"a":1}x', "invalid character 'x' after top-level value"),
        ("[1]", "json: cannot unmarshal array into Go value of type ctrl.SessionToken"),
        ('"x"', "json: cannot unmarshal string into Go value of type ctrl.SessionToken"),
        (
            raw_token(timestamp="1750000000000"),
            "json: cannot unmarshal string into Go struct field SessionToken.timestamp of type int64",
        ),
        (
            raw_token(tokenId=256),
            "json: cannot unmarshal number 256 into Go struct field SessionToken.tokenId of type uint8",
        ),
        (
            raw_token(generation=-1),
            "json: cannot unmarshal number -1 into Go struct field SessionToken.generation of type uint64",
        ),
        (
            raw_token(expiresAt=1.5),
            "json: cannot unmarshal number 1.5 into Go struct field SessionToken.expiresAt of type int64",
        ),
        (
            raw_token(address=1),
            "json: cannot unmarshal number into Go struct field SessionToken.address of type string",
        ),
        (
            raw_token(nonce=True, tokenId=[]),
            "json: cannot unmarshal bool into Go struct field SessionToken.nonce of type string",
        ),
        (
            raw_token(provider={}),
            "json: cannot unmarshal object into Go struct field SessionToken.provider of type string",
        ),
    ],
)
def test_invalid_json(raw: str, detail: str) -> None:
    assert rejected(header(raw)) == f"invalid session token format in Authorization: {detail}"


# ---------------------------------------------------------------------------------------------------------
# steps 5-8


def test_wrong_provider() -> None:
    raw = raw_token(provider="0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    assert rejected(header(raw)) == "session token is for different provider"


def test_ephemeral_without_expiry() -> None:
    assert rejected(header(raw_token(expiresAt=0))) == "ephemeral token must have an expiration time"


def test_ephemeral_longer_than_24_hours() -> None:
    raw = raw_token(expiresAt=1_750_000_000_000 + 25 * 3_600_000)
    assert rejected(header(raw)) == "ephemeral token duration cannot exceed 24 hours"


def test_persistent_token_may_be_long_lived() -> None:
    raw = raw_token(tokenId=3, expiresAt=1_750_000_000_000 + 30 * 86_400_000)
    assert validate(header(raw)).token_id == 3


def test_expired() -> None:
    raw = raw_token(timestamp=1_749_000_000_000, expiresAt=1_749_000_060_000)
    assert rejected(header(raw)) == "session token expired"


def test_check_claims_alone() -> None:
    token = parse_authorization(VECTOR_HEADER)
    check_claims(token, provider_address=PROVIDER, now_ms=NOW_MS)
    with pytest.raises(SessionError, match="^session token expired$"):
        check_claims(token, provider_address=PROVIDER, now_ms=1_760_000_000_000)


# ---------------------------------------------------------------------------------------------------------
# step 9


def test_generation_lower_than_chain() -> None:
    assert rejected(VECTOR_HEADER, AccountState(1, 0)) == "session token has been revoked (generation expired)"


def test_generation_higher_than_chain() -> None:
    raw = raw_token(generation=2)
    assert rejected(header(raw), AccountState(1, 0)) == "invalid session token (future generation)"


def test_persistent_token_with_revoked_bit() -> None:
    raw = raw_token(expiresAt=0, tokenId=3)
    value = header(raw, PERSISTENT_SIGNATURE)
    assert rejected(value, AccountState(0, 1 << 3)) == "session token has been revoked"
    assert validate(value, AccountState(0, (1 << 2) | (1 << 4))).token_id == 3


def test_ephemeral_token_ignores_the_bitmap() -> None:
    assert validate(VECTOR_HEADER, AccountState(0, (1 << 255) | (1 << 254))).token_id == 255


def test_no_account_skips_revocation() -> None:
    raw = raw_token(generation=5)
    assert validate(header(raw), None).generation == 5
    check_revocation(parse_authorization(header(raw)), None)


# ---------------------------------------------------------------------------------------------------------
# steps 10-13


def with_v(signature: str, v: int) -> str:
    return signature[:-2] + f"{v:02x}"


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("", "invalid signature format: empty hex string"),
        (VECTOR_SIGNATURE[2:], "invalid signature format: hex string without 0x prefix"),
        ("0xzz", "invalid signature format: invalid hex string"),
        (VECTOR_SIGNATURE[:-1], "invalid signature format: hex string of odd length"),
        ("0x", "invalid signature length"),
        (VECTOR_SIGNATURE[:-2], "invalid signature length"),
        (VECTOR_SIGNATURE + "00", "invalid signature length"),
        (
            with_v(VECTOR_SIGNATURE, 0),
            "failed to recover public key from signature: invalid signature recovery id",
        ),
        (
            with_v(VECTOR_SIGNATURE, 1),
            "failed to recover public key from signature: invalid signature recovery id",
        ),
        (
            with_v(VECTOR_SIGNATURE, 35),
            "failed to recover public key from signature: invalid signature recovery id",
        ),
        (with_v(VECTOR_SIGNATURE, 29), "failed to recover public key from signature: recovery failed"),
        ("0x" + "00" * 64 + "1b", "failed to recover public key from signature: recovery failed"),
        ("0x" + "ff" * 64 + "1b", "failed to recover public key from signature: recovery failed"),
    ],
)
def test_bad_signatures(signature: str, message: str) -> None:
    assert rejected(header(VECTOR_RAW, signature)) == message


def test_other_v_recovers_someone_else() -> None:
    assert VECTOR_SIGNATURE.endswith("1c")
    assert rejected(header(VECTOR_RAW, with_v(VECTOR_SIGNATURE, 27))) == (
        "signature verification failed: address mismatch"
    )


def test_wrong_signer() -> None:
    other_key = "0x" + "11" * 32
    assert rejected(header(VECTOR_RAW, sign(VECTOR_RAW, other_key))) == (
        "signature verification failed: address mismatch"
    )


def test_tampered_json_keeps_the_old_signature() -> None:
    tampered = VECTOR_RAW.replace("4fzzz", "4fzzy")
    assert rejected(header(tampered, VECTOR_SIGNATURE)) == "signature verification failed: address mismatch"


def test_address_comparison_is_case_insensitive() -> None:
    raw = raw_token(address=USER.lower())
    assert validate(header(raw)).address == USER.lower()


def test_verify_signature_alone() -> None:
    verify_signature(parse_authorization(VECTOR_HEADER))


# ---------------------------------------------------------------------------------------------------------
# ordering


def test_account_lookup_is_called_once_with_the_token_address_at_step_9() -> None:
    calls: list[str] = []

    def lookup(address: str) -> AccountState | None:
        calls.append(address)
        return None

    validate_session(VECTOR_HEADER, provider_address=PROVIDER, now_ms=NOW_MS, account_lookup=lookup)
    assert calls == [USER]
    calls.clear()
    with pytest.raises(SessionError, match="expired"):
        validate_session(VECTOR_HEADER, provider_address=PROVIDER, now_ms=2 * NOW_MS, account_lookup=lookup)
    assert calls == []


def test_revocation_is_reported_before_a_bad_signature() -> None:
    value = header(VECTOR_RAW, with_v(VECTOR_SIGNATURE, 0))
    assert rejected(value, AccountState(3, 0)) == "session token has been revoked (generation expired)"


def test_claims_are_checked_before_revocation() -> None:
    raw = raw_token(provider="0x0000000000000000000000000000000000000001")
    assert rejected(header(raw), AccountState(3, 0)) == "session token is for different provider"
