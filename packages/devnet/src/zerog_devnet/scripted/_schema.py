"""Fill a JSON schema with a valid value taken, where possible, from a piece of user text.

Used for tool-call arguments and for ``response_format`` ``json_schema`` answers; the rules are listed in
the package docstring ("Filling a JSON schema").
"""

from __future__ import annotations

import copy
import enum
import math
import re
from collections.abc import Iterable
from typing import Any, TypeAlias

from ._common import collapse, name_parts, quoted_strings

__all__ = ["fill", "type_of"]

MAX_DEPTH = 8
Number: TypeAlias = int | float


class _Missing(enum.Enum):
    TOKEN = 0


MISSING = _Missing.TOKEN

_NUMERIC = ("integer", "number")
_NUM = r"-?\d+(?:\.\d+)?"
_NUMBER_RE = re.compile(rf"(?<![\w.]){_NUM}(?!\w)")
_LIST_SEP = r"(?:\s*,\s*(?i:and\s+)?|\s+(?i:and)\s+)"
_PROPER_RE = re.compile(r"(?<![\w'’])[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*)*")
_STRING_VALUE = (
    r"(?:\"([^\"\n]+)\"|'([^'\n]+)'|“([^”\n]+)”|`([^`\n]+)`"
    r"|([A-Z][\w'-]*(?:[ \t]+[A-Z][\w'-]*)*)|(\w[\w.@/:+-]*))"
)
_NOT_PROPER = frozenset({"I", "JSON", "XML", "YAML", "CSV", "API", "URL", "OK"})
_QUERY_NAMES_TEXT = (
    "query q question text prompt message content search search_query search_term sentence statement input request"
)
_QUERY_NAMES = frozenset(_QUERY_NAMES_TEXT.split())
_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
}


def type_of(schema: dict[str, Any]) -> str:
    """The JSON type a schema asks for; the first non-null one of a type list; inferred when absent."""
    kind = schema.get("type")
    if isinstance(kind, list):
        return next((str(k) for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def fill(schema: dict[str, Any], text: str, *, avoid: Iterable[str] = (), focus: tuple[int, int] | None = None) -> Any:
    """A value valid against ``schema``, taken from ``text`` where the rules allow.

    ``avoid``: quoted strings never used as values. ``focus``: a ``(start, end)`` slice of ``text``
    whose numbers, strings and mentions are used before those of the rest of the text.
    """
    return _Filler(schema, _TextSource(text, avoid, focus)).value(schema, "value", 0)


def _name_re(name: str) -> str:
    parts = name_parts(name)
    spaced = r"[\s_-]+".join(re.escape(p) for p in parts) if parts else re.escape(name)
    return rf"(?i:(?<!\w)(?:{re.escape(name)}|{spaced})(?!\w))"


def _to_number(raw: str) -> Number:
    return float(raw) if "." in raw else int(raw)


def _proper_nouns(text: str) -> list[tuple[int, str]]:
    found = []
    for match in _PROPER_RE.finditer(text):
        before = text[: match.start()]
        stripped = before.rstrip()
        initial = not stripped or stripped[-1] in ".!?:;\"'“(" or "\n" in before[len(stripped) :]
        tokens = match.group().split()[1 if initial else 0 :]
        phrase = " ".join(tokens)
        if phrase and phrase not in _NOT_PROPER:
            found.append((match.start(), phrase))
    return found


class _TextSource:
    """Numbers, quoted strings and capitalised phrases of a text, each usable once, focus first."""

    def __init__(self, text: str, avoid: Iterable[str], focus: tuple[int, int] | None) -> None:
        banned = {a.lower() for a in avoid}
        self.text = text
        self.focus = focus or (0, len(text))
        self.numbers: list[tuple[int, Number]] = self._first(
            [(m.start(), _to_number(m.group())) for m in _NUMBER_RE.finditer(text)]
        )
        self.quoted = self._first([(pos, q) for pos, q in quoted_strings(text) if q.lower() not in banned])
        self.proper = self._first(_proper_nouns(text))
        self.used: set[tuple[str, int]] = set()

    def _inside(self, pos: int) -> bool:
        return self.focus[0] <= pos < self.focus[1]

    def _first(self, items: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
        return sorted(items, key=lambda item: (not self._inside(item[0]), item[0]))

    def _search(self, pattern: str) -> list[re.Match[str]]:
        """Matches of ``pattern``, those starting in the focus first."""
        return sorted(re.finditer(pattern, self.text), key=lambda m: (not self._inside(m.start()), m.start()))

    def _take(self, kind: str, items: list[tuple[int, Any]]) -> Any:
        for pos, value in items:
            if (kind, pos) not in self.used:
                self.used.add((kind, pos))
                return value
        return MISSING

    def _take_all(self, kind: str, items: list[tuple[int, Any]]) -> list[Any]:
        """All unused items of the focus, or all unused items when the focus has none left."""
        free = [(pos, value) for pos, value in items if (kind, pos) not in self.used]
        taken = [(pos, value) for pos, value in free if self._inside(pos)] or free
        self.used.update((kind, pos) for pos, _ in taken)
        return [value for _, value in taken]

    def next_number(self) -> Any:
        return self._take("number", self.numbers)

    def all_numbers(self) -> list[Number]:
        return self._take_all("number", self.numbers)

    def all_quoted(self) -> list[str]:
        return self._take_all("quoted", self.quoted)

    def bound_number(self, name: str) -> Number | None:
        pattern = (
            rf"{_name_re(name)}\s*(?:(?i:is|=|:|equals|equal to|of|to|be|as|should be|set to)\s*)?"
            r"(-?\d+(?:\.\d+)?)(?!\w)"
        )
        for match in self._search(pattern):
            for pos, value in self.numbers:
                if pos == match.start(1) and ("number", pos) not in self.used:
                    self.used.add(("number", pos))
                    return value
        return None

    def bound_numbers(self, name: str) -> list[Number]:
        """``scores 1, 2 and 3`` / ``scores are 1.5, 2.5``: the unused numbers listed after the name."""
        pattern = rf"{_name_re(name)}\s*(?:(?i:are|is|=|:|of)\s*)?\[?\s*({_NUM}(?:{_LIST_SEP}{_NUM})*)(?!\w)"
        for match in self._search(pattern):
            offset = match.start(1)
            positions = {offset + m.start() for m in _NUMBER_RE.finditer(match.group(1))}
            found = [(pos, value) for pos, value in self.numbers if pos in positions]
            found = [(pos, value) for pos, value in found if ("number", pos) not in self.used]
            if found:
                self.used.update(("number", pos) for pos, _ in found)
                return [value for _, value in found]
        return []

    def bound_string(self, name: str) -> str | None:
        pattern = rf"{_name_re(name)}\s*(?i:is|=|:|equals|called|named|should be|set to)\s*{_STRING_VALUE}"
        matches = self._search(pattern)
        if not matches:
            return None
        match = matches[0]
        value = next(g for g in match.groups() if g is not None).rstrip(".:,;!?")
        for kind, items in (("quoted", self.quoted), ("proper", self.proper)):
            self.used.update((kind, pos) for pos, item in items if item == value)
        return value

    def bound_bool(self, name: str) -> bool | None:
        pattern = rf"{_name_re(name)}\s*(?i:is|=|:|should be|set to)?\s*(?i:(true|false|yes|no|on|off))(?!\w)"
        matches = self._search(pattern)
        return matches[0].group(1).lower() in ("true", "yes", "on") if matches else None

    def string(self, name: str) -> Any:
        bound = self.bound_string(name)
        if bound:
            return bound
        quoted = self._take("quoted", self.quoted)
        if quoted is not MISSING:
            return quoted
        if name.lower() in _QUERY_NAMES and self.text.strip():
            return collapse(self.text)[:200]
        return self._take("proper", self.proper)

    def mentioned(self, options: list[Any]) -> list[Any]:
        """Options that occur in the text as whole words (case-insensitive), earliest first."""
        hits = []
        for index, option in enumerate(options):
            if option is None:
                continue
            matches = self._search(rf"(?i:(?<!\w){re.escape(str(option))}(?!\w))")
            if matches:
                position = matches[0].start()
                hits.append((not self._inside(position), position, index, option))
        return [hit[3] for hit in sorted(hits, key=lambda hit: hit[:3])]


def _clamp(value: Number, schema: dict[str, Any], integer: bool) -> Number:
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(ex_low, (int, float)) and not isinstance(ex_low, bool):
        low = ex_low + 1 if low is None else max(low, ex_low + 1)
    if isinstance(ex_high, (int, float)) and not isinstance(ex_high, bool):
        high = ex_high - 1 if high is None else min(high, ex_high - 1)
    if isinstance(low, (int, float)) and value < low:
        value = math.ceil(low) if integer else low
    if isinstance(high, (int, float)) and value > high:
        value = math.floor(high) if integer else high
    return value


def _number(value: Number, schema: dict[str, Any]) -> Number:
    integer = type_of(schema) == "integer"
    if integer:
        value = math.floor(value + 0.5)
    return _clamp(value, schema, integer)


def _fit_length(text: str, schema: dict[str, Any]) -> str:
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    if isinstance(low, int) and len(text) < low:
        text += "x" * (low - len(text))
    return text


def _placeholder(schema: dict[str, Any], kind: str, name: str) -> Any:
    if kind in ("integer", "number"):
        return _number(1, schema)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    fixed = _FORMATS.get(str(schema.get("format")))
    return _fit_length(fixed or "example " + (" ".join(name_parts(name)) or "value"), schema)


class _Filler:
    def __init__(self, root: dict[str, Any], source: _TextSource) -> None:
        self.root = root
        self.src = source

    def _pointer(self, ref: str) -> dict[str, Any]:
        node: Any = self.root
        for token in ref.lstrip("#").split("/"):
            if token:
                key = token.replace("~1", "/").replace("~0", "~")
                node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    def resolve(self, raw: Any) -> dict[str, Any]:
        """Follow ``$ref`` chains and merge ``allOf`` into one schema dict."""
        if not isinstance(raw, dict):
            return {}
        schema: dict[str, Any] = raw
        for _ in range(32):
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self._pointer(ref), **rest}
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            return schema
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            resolved = self.resolve(part)
            props = {**resolved.get("properties", {}), **merged.get("properties", {})}
            required = list(resolved.get("required", [])) + list(merged.get("required", []))
            merged = {**resolved, **merged, "properties": props, "required": required}
            if not props:
                del merged["properties"]
        return merged

    def _branches(self, alternatives: list[Any], depth: int = 0) -> list[dict[str, Any]]:
        """Non-null branches of an ``anyOf`` / ``oneOf``, nested ones flattened."""
        found: list[dict[str, Any]] = []
        for alternative in alternatives:
            branch = self.resolve(alternative)
            nested = branch.get("anyOf", branch.get("oneOf"))
            if isinstance(nested, list) and "type" not in branch and depth < MAX_DEPTH:
                found += self._branches(nested, depth + 1)
            elif type_of(branch) != "null":
                found.append(branch)
        return found

    def value(self, schema: Any, name: str, depth: int) -> Any:
        s = self.resolve(schema)
        if "const" in s:
            return copy.deepcopy(s["const"])
        options = s.get("enum")
        if isinstance(options, list) and options:
            hits = self.src.mentioned(options)
            return hits[0] if hits else copy.deepcopy(s.get("default", options[0]))
        alternatives = s.get("anyOf", s.get("oneOf"))
        if isinstance(alternatives, list) and alternatives:
            return self._alternatives(s, alternatives, name, depth)
        kind = type_of(s)
        if kind == "object":
            return self._object(s, depth)
        if kind == "array":
            return self._array(s, name, depth)
        found = self._from_text(s, kind, name)
        if found is not MISSING:
            return found
        if "default" in s:
            return copy.deepcopy(s["default"])
        return _placeholder(s, kind, name)

    def _from_text(self, s: dict[str, Any], kind: str, name: str) -> Any:
        options = s.get("enum")
        if isinstance(options, list) and options:
            hits = self.src.mentioned(options)
            return hits[0] if hits else MISSING
        if kind in ("integer", "number"):
            found = self.src.next_number()
            return found if found is MISSING else _number(found, s)
        if kind == "boolean":
            flag = self.src.bound_bool(name)
            return MISSING if flag is None else flag
        if kind == "string" and str(s.get("format")) not in _FORMATS:
            text = self.src.string(name)
            return text if text is MISSING else _fit_length(text, s)
        return MISSING

    def _alternatives(self, s: dict[str, Any], alternatives: list[Any], name: str, depth: int) -> Any:
        branches = self._branches(alternatives)
        if not branches:
            return None
        first = branches[0]
        found = self._from_text(first, type_of(first), name)
        if found is not MISSING:
            return found
        if "default" in s:
            return copy.deepcopy(s["default"])
        return self.value(first, name, depth + 1)

    def _plain(self, schema: Any, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        """The schema (or its first non-null branch) when it is a plain typed scalar of ``kinds``."""
        s = self.resolve(schema)
        alternatives = s.get("anyOf", s.get("oneOf"))
        if isinstance(alternatives, list):
            branches = self._branches(alternatives)
            s = branches[0] if branches else {}
        if "enum" in s or "const" in s or "type" not in s or str(s.get("format")) in _FORMATS:
            return None
        return s if type_of(s) in kinds else None

    def _numeric_items(self, schema: Any) -> dict[str, Any] | None:
        s = self.resolve(schema)
        if type_of(s) != "array" or "type" not in s or not isinstance(s.get("items"), dict):
            return None
        return self._plain(s["items"], _NUMERIC)

    def _bind(self, props: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[Number]]]:
        """Values bound to property names (``a is 3``, ``city is Paris``, ``scores 1 and 2``).

        They are reserved before any property takes the text's values in order.
        """
        scalars: dict[str, Any] = {}
        arrays: dict[str, list[Number]] = {}
        for key, sub in props.items():
            numeric, text, items = self._plain(sub, _NUMERIC), self._plain(sub, ("string",)), None
            if numeric is not None:
                found = self.src.bound_number(key)
                if found is not None:
                    scalars[key] = _number(found, numeric)
            elif text is not None:
                bound = self.src.bound_string(key)
                if bound:
                    scalars[key] = _fit_length(bound, text)
            elif (items := self._numeric_items(sub)) is not None:
                values = self.src.bound_numbers(key)
                if values:
                    arrays[key] = [_number(v, items) for v in values]
        return scalars, arrays

    def _object(self, s: dict[str, Any], depth: int) -> dict[str, Any]:
        """Every property; required ones are filled first so they get the text's values first."""
        if depth > MAX_DEPTH:
            return {}
        props = s.get("properties")
        props = props if isinstance(props, dict) else {}
        required = s.get("required")
        required = [k for k in required if isinstance(k, str)] if isinstance(required, list) else []
        scalars, arrays = self._bind(props)
        filled: dict[str, Any] = {}
        for key in sorted(props, key=lambda k: k not in required):
            if key in scalars:
                filled[key] = scalars[key]
            elif key in arrays:
                filled[key] = self._array(self.resolve(props[key]), key, depth + 1, arrays[key])
            else:
                filled[key] = self.value(props[key], key, depth + 1)
        out = {key: filled[key] for key in props}
        for key in required:
            if key not in out:
                out[key] = self.value({}, key, depth + 1)
        return out

    def _array(self, s: dict[str, Any], name: str, depth: int, preset: list[Any] | None = None) -> list[Any]:
        if depth > MAX_DEPTH:
            return []
        prefix = s.get("prefixItems")
        if isinstance(prefix, list):
            return [self.value(item, name, depth + 1) for item in prefix]
        items = s.get("items") if isinstance(s.get("items"), dict) else {}
        values = list(preset) if preset is not None else self._array_from_text(self.resolve(items))
        if not values and isinstance(s.get("default"), list):
            return list(copy.deepcopy(s["default"]))
        low, high = s.get("minItems"), s.get("maxItems")
        want = max(low if isinstance(low, int) else 0, 1)
        if isinstance(high, int):
            want = min(want, high)
        while len(values) < want:
            values.append(self.value(items, name, depth + 1))
        return values[:high] if isinstance(high, int) else values

    def _array_from_text(self, item: dict[str, Any]) -> list[Any]:
        options = item.get("enum")
        if isinstance(options, list) and options:
            return self.src.mentioned(options)
        kind = type_of(item)
        if kind in ("integer", "number") and "type" in item:
            return [_number(v, item) for v in self.src.all_numbers()]
        if kind == "string" and "type" in item and "format" not in item:
            return [_fit_length(v, item) for v in self.src.all_quoted()]
        return []
