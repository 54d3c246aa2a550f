"""Shared helpers of the scripted model: the error type, the toy tokenizer, hashing and text scanning."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

__all__ = [
    "STOPWORDS",
    "ScriptedModelError",
    "collapse",
    "count_tokens",
    "digest",
    "name_parts",
    "now",
    "quoted_strings",
    "short_hash",
    "stem",
    "truncate_tokens",
    "words",
]


class ScriptedModelError(ValueError):
    """The request is invalid for the scripted model; the devnet server answers it with HTTP 400."""


_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_WORD_RE = re.compile(r"[a-z0-9]+")
_NAME_PART_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

# Quoted strings: "x", 'x' (not an apostrophe inside a word), `x` and “x”.
QUOTED_PATTERN = r"\"([^\"\n]{1,200})\"|(?<!\w)'([^'\n]{1,200}?)'(?!\w)|`([^`\n]{1,200})`|“([^”\n]{1,200})”"
_QUOTED_RE = re.compile(QUOTED_PATTERN)

_STOPWORDS_TEXT = (
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this "
    "that these those i me my you your we our he she they them his her their what which who whom how when "
    "where why do does did can could would should will shall may might must not no so than then there "
    "here about into over under up down out just also very please"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def count_tokens(text: str) -> int:
    """Toy tokenizer behind every ``usage`` figure.

    One token per word (a run of letters, digits and underscores) plus one per punctuation mark or
    symbol; at least 1 for any non-empty string, 0 for ``""``.
    """
    if not text:
        return 0
    return max(1, len(_TOKEN_RE.findall(text)))


def truncate_tokens(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` after its ``limit``-th token (``limit >= 1``); also say whether anything was cut."""
    end = 0
    for index, match in enumerate(_TOKEN_RE.finditer(text)):
        if index == limit:
            return text[:end], True
        end = match.end()
    return text, False


def digest(*parts: Any) -> str:
    """Hex sha256 of a canonical JSON rendering of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def short_hash(data: str | bytes, length: int = 12) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:length]


def now() -> int:
    """The only clock read of the scripted model (``created`` timestamps)."""
    return int(time.time())


def collapse(text: str) -> str:
    """Whitespace runs to single spaces, stripped."""
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Lower-cased runs of ASCII letters and digits."""
    return _WORD_RE.findall(text.lower())


def stem(word: str) -> str:
    """Light stemming: drop one trailing ``s`` (not ``ss``) from words longer than 3 letters."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def name_parts(name: str) -> list[str]:
    """``get_weather`` / ``getWeather`` / ``get-weather`` -> ``["get", "weather"]``."""
    return [part.lower() for part in _NAME_PART_RE.findall(name)]


def quoted_strings(text: str) -> list[tuple[int, str]]:
    """``(position, inner text)`` of every quoted string, in order."""
    found = []
    for match in _QUOTED_RE.finditer(text):
        inner = next(group for group in match.groups() if group is not None)
        found.append((match.start(), inner))
    return found
