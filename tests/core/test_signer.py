"""Wallet: key parsing, signing, and that the key never leaks through repr, pickling, logging or errors."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import traceback

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from pydantic import SecretStr

from zerog_compute.errors import ConfigurationError, VerificationError
from zerog_compute.signer import Wallet, recover_hash, signature_bytes

KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
KEY_DIGITS = KEY[2:]
ADDRESS = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c"
ABC_DEF_SIGNATURE = (
    "0x61c3fcc1a52d6a12ede1f5d5626db0a343cc34e6c1384ffbfa7193ee91e0bcf7"
    "62dbdcb32a053b080ce6adae629ca546d774d1e44b08eaa4e4dc2a5b70b1cef21b"
)
KEY_FORMAT = "private key must be 32 bytes of hex (64 hex digits, optional 0x)"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _assert_no_key(text: str, secret: str = KEY_DIGITS) -> None:
    assert secret.lower() not in text.lower()


@pytest.mark.parametrize(
    "key",
    [KEY, KEY_DIGITS, KEY.upper().replace("0X", "0x"), f"  {KEY}\n", bytes.fromhex(KEY_DIGITS), KEY.encode()],
)
def test_accepts_hex_bytes_and_whitespace(key: str | bytes) -> None:
    assert Wallet(key).address == ADDRESS


def test_accepts_secret_str() -> None:
    assert Wallet(SecretStr(KEY)).address == ADDRESS


@pytest.mark.parametrize(
    "bad",
    [
        "",
        KEY[:-1],  # 63 digits
        KEY + "0",  # 65 digits
        "0x" + "g" * 64,
        "0x0x" + KEY_DIGITS,
        b"\xff" * 40,
        b"\x01" * 31,
        12345,
        None,
    ],
)
def test_rejects_malformed_keys_without_echoing_them(bad: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        Wallet(bad)  # type: ignore[arg-type]
    assert str(info.value).startswith(KEY_FORMAT)
    if isinstance(bad, str) and len(bad) > 8:
        _assert_no_key(str(info.value), bad.removeprefix("0x")[:40])


@pytest.mark.parametrize("value", [0, SECP256K1_N, SECP256K1_N + 1])
def test_rejects_keys_outside_the_curve(value: int) -> None:
    key = f"0x{value:064x}"
    with pytest.raises(ConfigurationError, match="not a valid secp256k1 key") as info:
        Wallet(key)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_repr_str_format_show_only_the_address() -> None:
    wallet = Wallet(KEY)
    assert repr(wallet) == f"Wallet(address='{ADDRESS}')"
    assert str(wallet) == ADDRESS
    assert f"{wallet}" == ADDRESS and format(wallet) == ADDRESS
    for text in (repr(wallet), str(wallet), f"{wallet!r}", repr([wallet]), repr({"w": wallet})):
        _assert_no_key(text)


def test_no_public_attribute_exposes_the_key() -> None:
    wallet = Wallet(KEY)
    for name in dir(wallet):
        if name.startswith("_"):
            continue
        value = getattr(wallet, name)
        if not callable(value):
            _assert_no_key(repr(value))
    with pytest.raises(TypeError):
        vars(wallet)
    with pytest.raises(AttributeError):
        wallet.key = "x"


@pytest.mark.parametrize(
    "operation",
    [
        pickle.dumps,
        lambda w: pickle.dumps(w, protocol=0),
        copy.copy,
        copy.deepcopy,
        lambda w: w.__reduce__(),
        lambda w: w.__getstate__(),
        json.dumps,
    ],
)
def test_cannot_be_pickled_copied_or_serialised(operation: object) -> None:
    wallet = Wallet(KEY)
    with pytest.raises(TypeError) as info:
        operation(wallet)  # type: ignore[operator]
    _assert_no_key(str(info.value))


def test_logging_the_wallet_and_a_key_error_never_shows_the_key(caplog: pytest.LogCaptureFixture) -> None:
    bad_key = KEY[:-1]
    log = logging.getLogger("zerog-test")
    with caplog.at_level(logging.DEBUG, logger="zerog-test"):
        wallet = Wallet(KEY)
        log.info("wallet %s %r", wallet, wallet)
        log.info("wallet %s", {"wallet": wallet})
        try:
            Wallet(bad_key)
        except ConfigurationError as exc:
            log.exception("bad key")
            error = exc
    assert caplog.text
    _assert_no_key(caplog.text)
    _assert_no_key(caplog.text, bad_key[2:])
    rendered = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    for text in (rendered, repr(error), str(error)):
        _assert_no_key(text, bad_key[2:])


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_PRIVATE_KEY", KEY)
    assert Wallet.from_env().address == ADDRESS
    monkeypatch.setenv("OTHER_KEY", KEY_DIGITS + "\n")
    assert Wallet.from_env("OTHER_KEY").address == ADDRESS


def test_from_env_errors_name_the_variable_not_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZG_PRIVATE_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="private_key=.*ZG_PRIVATE_KEY"):
        Wallet.from_env()
    monkeypatch.setenv("ZG_PRIVATE_KEY", KEY[:-2])
    with pytest.raises(ConfigurationError, match="ZG_PRIVATE_KEY: private key must be") as info:
        Wallet.from_env()
    _assert_no_key(str(info.value), KEY_DIGITS[:-2])


def test_sign_message_matches_the_eip191_vector() -> None:
    signature = Wallet(KEY).sign_message(encode_defunct(text="abc:def"))
    assert isinstance(signature, bytes) and len(signature) == 65
    assert signature[64] in (27, 28)
    assert "0x" + signature.hex() == ABC_DEF_SIGNATURE


def test_sign_transaction_returns_raw_bytes_from_the_wallet() -> None:
    tx = {
        "to": "0xa48f01287233509FD694a22Bf840225062E67836",
        "value": 1,
        "gas": 21000,
        "maxFeePerGas": 2_000_000_000,
        "maxPriorityFeePerGas": 1_000_000_000,
        "nonce": 0,
        "chainId": 16602,
        "type": 2,
    }
    raw = Wallet(KEY).sign_transaction(tx)
    assert isinstance(raw, bytes)
    assert Account.recover_transaction(raw) == ADDRESS


def test_sign_transaction_rejects_a_bad_transaction() -> None:
    with pytest.raises(ConfigurationError, match="cannot sign transaction"):
        Wallet(KEY).sign_transaction({"to": "nope", "chainId": 1})


def test_signature_bytes_normalises_v_and_rejects_garbage() -> None:
    raw = bytes.fromhex(ABC_DEF_SIGNATURE[2:])
    low_v = raw[:64] + bytes([raw[64] - 27])
    assert signature_bytes(low_v) == raw
    assert signature_bytes(ABC_DEF_SIGNATURE[2:]) == raw
    for bad in ("0x1234", raw[:64] + b"\x05", "zz" * 65, b""):
        with pytest.raises(VerificationError, match="malformed signature"):
            signature_bytes(bad)


def test_recover_hash_rejects_an_unrecoverable_signature() -> None:
    with pytest.raises(VerificationError, match="malformed signature"):
        recover_hash(b"\x00" * 32, "0x" + "00" * 64 + "1b")
