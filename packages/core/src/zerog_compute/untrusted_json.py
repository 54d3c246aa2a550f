"""One JSON parser for everything a provider, a Router, a web page or a model sends: bounded in depth and size.

``json.loads`` recurses once per nesting level: deep nesting raises ``RecursionError`` or, because py_ecc
(under eth-account) raises the interpreter's recursion limit to 100000, overflows the C stack and kills the
process. :func:`parse_json` refuses such input first, and input over a size limit, with
:class:`UntrustedJSONError` (a ``ValueError``, like ``json.JSONDecodeError``). NaN and Infinity are refused
too: they are not JSON, and re-encoding them produces invalid JSON.

Use it for provider bodies, SSE events, tool-call arguments, proxy requests — never plain ``json.loads``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "UntrustedJSONError", "parse_json"]

MAX_JSON_DEPTH = 512
"""Deepest nesting accepted (objects and arrays)."""
MAX_JSON_BYTES = 64 * 1024 * 1024
"""Largest document accepted, in bytes (UTF-8)."""

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)  # never backtracks: linear
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


class UntrustedJSONError(ValueError):
    """Input that is not JSON (``reason="malformed"``), or JSON nested deeper (``"deep"``) or larger (``"large"``)
    than allowed — the last two must never reach another JSON parser."""

    def __init__(self, message: str, *, reason: Literal["malformed", "deep", "large"] = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


def parse_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """``json.loads`` for untrusted input; too deep, too large, NaN/Infinity or malformed: UntrustedJSONError."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise UntrustedJSONError(
            f"JSON document of {len(raw)} bytes is larger than the {max_bytes} allowed", reason="large"
        )
    if raw.count(b"[") + raw.count(b"{") > max_depth and nesting_exceeds(raw, max_depth):
        raise UntrustedJSONError(f"JSON nested deeper than {max_depth} levels", reason="deep")
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise UntrustedJSONError(f"JSON nested too deep to parse (limit {max_depth})", reason="deep") from None
    except ValueError as exc:
        if isinstance(exc, UntrustedJSONError):
            raise
        raise UntrustedJSONError(f"not JSON: {exc}") from None


def nesting_exceeds(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``max_depth`` (linear time, no parsing).

    Works on partial documents too (a stream's tool-call arguments so far).
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    depth = 0
    for byte in _JSON_STRING.sub(b"", data).translate(None, _NOT_A_BRACKET):
        depth += 1 if byte in b"[{" else -1
        if depth > max_depth:
            return True
    return False


def _refuse_constant(name: str) -> Any:
    raise UntrustedJSONError(f"{name} is not JSON")
