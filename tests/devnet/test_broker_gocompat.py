"""The Go behaviour ports behind the broker's messages and numbers."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zerog_devnet.broker._gocompat import (
    GoError,
    GoNumber,
    b64_std_decode,
    big_float_quo_text,
    fields,
    hexutil_decode,
    json_loads,
    quote_char,
    round_half_away,
)


@given(st.binary(max_size=200))
def test_b64_round_trips_standard_encoding(data: bytes) -> None:
    assert b64_std_decode(base64.b64encode(data)) == data


def test_b64_ignores_newlines() -> None:
    assert b64_std_decode(b"QUJD\r\nREVG\n") == b"ABCDEF"
    assert b64_std_decode(b"QQ=\n=") == b"A"


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"QQ", 0),
        (b"QUJDRA", 4),
        (b"QUJ", 0),
        (b"Q===", 1),
        (b"QQ=", 3),
        (b"QQ=A", 2),
        (b"QUI=QQ==", 4),
        (b"QQ== ", 4),
        (b"-_8=", 0),
        (b"\xff", 0),
    ],
)
def test_b64_errors(data: bytes, offset: int) -> None:
    with pytest.raises(GoError, match=f"^illegal base64 data at input byte {offset}$"):
        b64_std_decode(data)


def test_b64_non_canonical_trailing_bits_are_accepted() -> None:
    assert b64_std_decode(b"QR==") == b"A"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty hex string"),
        ("ab", "hex string without 0x prefix"),
        ("0xg0", "invalid hex string"),
        ("0xabc", "hex string of odd length"),
        ("0xab\u00e9", "invalid hex string"),
    ],
)
def test_hexutil_errors(text: str, message: str) -> None:
    with pytest.raises(GoError, match=f"^{message}$"):
        hexutil_decode(text)


def test_hexutil_decodes() -> None:
    assert hexutil_decode("0x") == b""
    assert hexutil_decode("0XaBcD") == b"\xab\xcd"


def test_json_keeps_number_literals() -> None:
    value = json_loads('{"a":1.50,"b":-0,"c":1e3}')
    assert value == {"a": "1.50", "b": "-0", "c": "1e3"}
    assert all(isinstance(v, GoNumber) for v in value.values())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NaN", "invalid character 'N' looking for beginning of value"),
        ("[-Infinity]", "invalid character 'I' in numeric literal"),
        ('{"a":"\n"}', "invalid character '\\n' in string literal"),
        ('{"a":"\\q"}', "invalid character 'q' in string escape code"),
        ('{"a":"\\u12G4"}', "invalid character 'G' in \\u hexadecimal character escape"),
        ('{"a" 1}', "invalid character '1' after object key"),
        ("{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
        ('{"a":"[1"  x}', "invalid character 'x' after object key:value pair"),
        ("\u00e9", "invalid character '\u00c3' looking for beginning of value"),
        ("\x7f", "invalid character '\\x7f' looking for beginning of value"),
    ],
)
def test_json_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(GoError) as info:
        json_loads(text)
    assert str(info.value) == message


def test_quote_char_specials() -> None:
    assert quote_char('"') == "'\"'"
    assert quote_char("\\") == "'\\\\'"
    assert quote_char("\x01") == "'\\x01'"
    assert quote_char("\x85") == "'\u00c2'"  # first UTF-8 byte of U+0085
    assert quote_char("\udc85") == "'\\u0085'"  # a raw 0x85 byte (surrogateescape)


def test_fields_uses_go_spaces() -> None:
    assert fields(" a\u3000b\u2003c\x1cd\u200be ") == ["a", "b", "c\x1cd\u200be"]


@pytest.mark.parametrize(
    ("value", "rounded"),
    [(0.5, 1), (1.5, 2), (2.5, 3), (-2.5, -3), (0.49999999999999994, 0), (-0.4, 0), (1e15 + 0.5, 10**15 + 1)],
)
def test_round_half_away(value: float, rounded: int) -> None:
    assert round_half_away(value) == rounded


def test_round_half_away_rejects_non_finite() -> None:
    with pytest.raises(ValueError):
        round_half_away(float("nan"))


def test_big_float_uses_the_operand_precision() -> None:
    # 2**64 + 1 neuron: 65 bits, so the +1 survives the quotient's rounding
    assert big_float_quo_text(2**64 + 1, 1, 0) == str(2**64 + 1)
    assert big_float_quo_text(1, 3, 6) == "0.333333"
    assert big_float_quo_text(2, 3, 6) == "0.666667"
    with pytest.raises(ValueError):
        big_float_quo_text(-1, 3, 6)
