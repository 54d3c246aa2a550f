"""Where verification may fetch from: the provider's own origin only, with escaped path components.

Pure functions (no I/O). Providers are untrusted: a URL or chat id they send must not steer a fetch to
another host (SSRF: loopback admin pages, cloud metadata, the LAN) or to another path of the provider.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import quote, unquote_to_bytes, urlsplit, urlunsplit

__all__ = ["MAX_CHAT_ID", "decode_data_url", "on_origin", "signature_url"]

MAX_CHAT_ID = 256
"""Longest chat id sent back to a provider (real ones are UUIDs or ``chatcmpl-…`` ids)."""

_CHAT_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_CHAT_ID}}}")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def signature_url(endpoint: str, chat_id: str, model: str) -> str | None:
    """``{endpoint}/signature/{chat_id}?model=…`` with both escaped; None for an implausible chat id.

    A plausible id is 1-256 printable ASCII characters and not a dot segment (``.``, ``..``).
    """
    if not _CHAT_ID.fullmatch(chat_id) or chat_id in (".", ".."):
        return None
    return f"{endpoint}/signature/{quote(chat_id, safe='')}?model={quote(model, safe='/')}"


def origin(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL with no user info; None for anything else."""
    if _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


def on_origin(url: str, provider_url: str) -> str | None:
    """``url`` rebuilt on the provider's registered origin when it is on that origin, else None.

    The fetch then goes to exactly the registered scheme, host and port, however ``url`` was spelled;
    any other host (loopback, link-local, private or public) is refused unless it *is* the registered one.
    """
    own = origin(provider_url)
    if own is None or origin(url) != own:
        return None
    parts, registered = urlsplit(url), urlsplit(provider_url)
    return urlunsplit((registered.scheme, registered.netloc, parts.path or "/", parts.query, ""))


def decode_data_url(url: str) -> bytes | None:
    """The bytes of a ``data:…;base64,…`` (or percent-encoded) URL; None if it is not a valid one."""
    header, comma, payload = url.partition(",")
    if not comma or not header.lower().startswith("data:"):
        return None
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None
    return unquote_to_bytes(payload)
