"""Ports of the Go standard-library behaviour that shapes the broker's error texts and numbers.

The broker is written in Go; a faithful emulator has to reproduce the exact ``err.Error()`` strings of
``encoding/base64``, ``go-ethereum/common/hexutil`` and ``encoding/json``, Go's ``strings.Fields``,
``math.Round`` and ``big.Float.Text('f', 6)``.
"""

import json
import math
import string
from fractions import Fraction
from typing import Any

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUES = {ord(c): i for i, c in enumerate(_B64_ALPHABET)}
_NEWLINES = frozenset(b"\r\n")
_PAD = ord("=")
_HEX_DIGITS = frozenset(string.hexdigits)
# unicode.IsSpace: the Latin-1 spaces plus the Unicode White_Space property (no \x1c-\x1f, unlike str.split).
_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v"}


class GoError(ValueError):
    """An error whose ``str()`` is the text Go's ``err.Error()`` would give."""


class GoNumber(str):
    """A JSON number kept as its literal text, so Go's ``"number <literal>"`` errors can be rebuilt."""


# ---------------------------------------------------------------------------------------------------------
# encoding/base64 StdEncoding.DecodeString


def b64_std_decode(src: bytes) -> bytes:
    """Decode like Go's ``base64.StdEncoding.DecodeString`` (padded, CR/LF ignored, Go error text)."""
    out = bytearray()
    si = 0
    while si < len(src):
        si = _decode_quantum(src, si, out)
    return bytes(out)


def _corrupt(offset: int) -> GoError:
    return GoError(f"illegal base64 data at input byte {offset}")


def _decode_quantum(src: bytes, si: int, out: bytearray) -> int:
    """Decode one 4-character quantum starting at ``si``; return the next index."""
    values: list[int] = []
    while len(values) < 4:
        if si == len(src):
            if not values:
                return si
            raise _corrupt(si - len(values))
        c = src[si]
        si += 1
        if c in _B64_VALUES:
            values.append(_B64_VALUES[c])
        elif c in _NEWLINES:
            continue
        elif c != _PAD:
            raise _corrupt(si - 1)
        else:
            si = _consume_padding(src, si, len(values))
            break
    _emit(values, out)
    return si


def _skip_newlines(src: bytes, si: int) -> int:
    while si < len(src) and src[si] in _NEWLINES:
        si += 1
    return si


def _consume_padding(src: bytes, si: int, seen: int) -> int:
    """Handle the ``=`` just read after ``seen`` data characters (Go's decodeQuantum padding branch)."""
    if seen < 2:
        raise _corrupt(si - 1)
    if seen == 2:
        si = _skip_newlines(src, si)
        if si == len(src):
            raise _corrupt(len(src))
        if src[si] != _PAD:
            raise _corrupt(si - 1)
        si += 1
    si = _skip_newlines(src, si)
    if si < len(src):
        raise _corrupt(si)
    return si


def _emit(values: list[int], out: bytearray) -> None:
    padded = values + [0] * (4 - len(values))
    word = padded[0] << 18 | padded[1] << 12 | padded[2] << 6 | padded[3]
    out.extend(word.to_bytes(3, "big")[: len(values) - 1])


# ---------------------------------------------------------------------------------------------------------
# go-ethereum common/hexutil.Decode


def hexutil_decode(text: str) -> bytes:
    """Decode ``0x``-prefixed hex like go-ethereum's ``hexutil.Decode`` (same error texts)."""
    if not text:
        raise GoError("empty hex string")
    if not (len(text) >= 2 and text[0] == "0" and text[1] in "xX"):
        raise GoError("hex string without 0x prefix")
    body = text[2:]
    if not all(c in _HEX_DIGITS for c in body):
        raise GoError("invalid hex string")
    if len(body) % 2:
        raise GoError("hex string of odd length")
    return bytes.fromhex(body)


# ---------------------------------------------------------------------------------------------------------
# encoding/json syntax errors


def json_loads(text: str) -> Any:
    """Parse JSON, keeping numbers as :class:`GoNumber` and raising Go-style syntax errors."""
    try:
        return json.loads(text, parse_int=GoNumber, parse_float=GoNumber, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GoError(_syntax_message(exc.doc, exc.msg, exc.pos)) from None
    except RecursionError:  # Go stops at depth 10000, Python's recursion limit comes first
        raise GoError("exceeded max depth") from None


def _reject_constant(name: str) -> Any:
    if name.startswith("-"):
        raise GoError("invalid character 'I' in numeric literal")
    raise GoError(f"invalid character {quote_char(name[0])} looking for beginning of value")


def _syntax_message(doc: str, msg: str, pos: int) -> str:
    if pos >= len(doc) or msg.startswith("Unterminated string"):
        return "unexpected end of JSON input"
    if msg.startswith("Invalid \\u"):
        return _unicode_escape_message(doc, pos)
    if msg.startswith("Invalid \\escape"):
        pos += 1 if doc[pos] == "\\" else 0
        if pos >= len(doc):
            return "unexpected end of JSON input"
        return f"invalid character {quote_char(doc[pos])} in string escape code"
    return f"invalid character {quote_char(doc[pos])} {_syntax_context(doc, msg, pos)}"


def _unicode_escape_message(doc: str, pos: int) -> str:
    start = doc.find("u", pos) + 1
    for ch in doc[start : start + 4]:
        if ch not in _HEX_DIGITS:
            return f"invalid character {quote_char(ch)} in \\u hexadecimal character escape"
    return "unexpected end of JSON input"


def _syntax_context(doc: str, msg: str, pos: int) -> str:
    if msg.startswith("Expecting property name"):
        return "looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return "after object key"
    if msg.startswith("Expecting ','"):
        return "after array element" if _innermost_open(doc, pos) == "[" else "after object key:value pair"
    if msg.startswith("Extra data"):
        return "after top-level value"
    if msg.startswith("Invalid control character"):
        return "in string literal"
    return "looking for beginning of value"


def _innermost_open(doc: str, pos: int) -> str:
    """Return ``{`` or ``[`` for the innermost container still open at ``pos`` (strings skipped)."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in doc[:pos]:
        if in_string:
            escaped = not escaped and ch == "\\"
            in_string = escaped or ch != '"'
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def quote_char(ch: str) -> str:
    """Go's ``encoding/json`` ``quoteChar`` for the first byte of ``ch`` (bytes shown as Latin-1 runes)."""
    b = ch.encode("utf-8", "surrogateescape")[0]
    if b == 0x27:
        return "'\\''"
    if b == 0x22:
        return "'\"'"
    if b == 0x5C:
        return "'\\\\'"
    if b in _ESCAPES:
        return f"'{_ESCAPES[b]}'"
    rune = chr(b)
    if rune.isprintable():
        return f"'{rune}'"
    return f"'\\x{b:02x}'" if b < 0x80 else f"'\\u{b:04x}'"


# ---------------------------------------------------------------------------------------------------------
# strings, math, math/big


def fields(text: str) -> list[str]:
    """Split on Go ``unicode.IsSpace`` runs, like ``strings.Fields``."""
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch in _GO_SPACES:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        words.append("".join(current))
    return words


def round_half_away(x: float) -> int:
    """Go ``math.Round``: nearest integer, halves away from zero."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"cannot round {x}")
    magnitude = abs(x)
    whole = math.floor(magnitude)
    rounded = whole + 1 if magnitude - whole >= 0.5 else whole
    return int(math.copysign(rounded, x)) if rounded else 0


def big_float_quo_text(numerator: int, denominator: int, decimals: int) -> str:
    """``new(big.Float).Quo(SetInt(n), SetInt(d)).Text('f', decimals)`` for non-negative ints."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("numerator must be >= 0 and denominator > 0")
    prec = max(64, numerator.bit_length(), denominator.bit_length())
    quotient = _round_to_bits(Fraction(numerator, denominator), prec)
    scaled = round(quotient * 10**decimals)  # Fraction rounding is half-to-even, like big's decimal.round
    whole, frac = divmod(scaled, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}" if decimals else str(whole)


def _round_to_bits(value: Fraction, prec: int) -> Fraction:
    """Round a positive rational to ``prec`` significant bits, ties to even."""
    if value == 0:
        return value
    exp = value.numerator.bit_length() - value.denominator.bit_length()
    while Fraction(2) ** exp <= value:
        exp += 1
    while Fraction(2) ** (exp - 1) > value:
        exp -= 1
    mantissa = round(value * Fraction(2) ** (prec - exp))
    return Fraction(mantissa) * Fraction(2) ** (exp - prec)
