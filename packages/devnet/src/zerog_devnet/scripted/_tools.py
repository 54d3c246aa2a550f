"""Which tools the scripted model calls, and the tool-call objects it emits."""

from __future__ import annotations

import json
import re
from typing import Any

from ._common import STOPWORDS, digest, name_parts, stem, words
from ._request import ChatRequest, Tool
from ._schema import fill

__all__ = ["make_tool_calls", "match_tools", "select_tools"]

# Words too generic to say that a message is about a particular tool.
_GENERIC_TEXT = (
    "function functions tool tools input inputs output outputs value values result results return returns "
    "given using which should about their there these those string number integer based specified "
    "provided call calls called object field fields parameter parameters argument arguments"
)
_GENERIC = frozenset(_GENERIC_TEXT.split())
_MIN_KEYWORD = 5


def _mention(tool: Tool, text: str) -> tuple[int, bool] | None:
    """Position of the first mention of the tool's name and whether it was verbatim."""
    verbatim = re.search(rf"(?i:(?<!\w){re.escape(tool.name)}(?!\w))", text)
    if verbatim:
        return verbatim.start(), True
    parts = name_parts(tool.name)
    if not parts:
        return None
    spaced = re.search(r"(?i:(?<!\w)" + r"[\s_-]+".join(map(re.escape, parts)) + r"(?!\w))", text)
    return (spaced.start(), False) if spaced else None


def _keywords(tool: Tool) -> set[str]:
    candidates = name_parts(tool.name) + words(tool.description)
    stems = {stem(word) for word in candidates if len(word) >= _MIN_KEYWORD and word not in STOPWORDS}
    return stems - _GENERIC


def _shadowed(phrase: str, name: str, spaced: dict[str, str]) -> bool:
    """Whether ``phrase`` (a tool name as words) occurs only inside another mentioned tool's name."""
    return any(other != name and f" {phrase} " in f" {longer} " for other, longer in spaced.items())


def _by_name(tools: tuple[Tool, ...], text: str) -> list[tuple[Tool, int | None]]:
    hits = []
    for index, tool in enumerate(tools):
        found = _mention(tool, text)
        if found is not None:
            hits.append((found[0], index, tool, found[1]))
    spaced = {tool.name: " ".join(name_parts(tool.name)) for _, _, tool, _ in hits}
    kept = [hit for hit in hits if hit[3] or not _shadowed(spaced[hit[2].name], hit[2].name, spaced)]
    return [(tool, pos) for pos, _, tool, _ in sorted(kept, key=lambda hit: (hit[0], hit[1]))]


def match_tools(tools: tuple[Tool, ...], text: str) -> list[tuple[Tool, int | None]]:
    """Tools the text asks for, with where their name is mentioned.

    By name (in order of first mention), else by keyword overlap (most shared keywords first, no position).
    """
    named = _by_name(tools, text)
    if named:
        return named
    vocabulary = {stem(word) for word in words(text)}
    scored = [(len(_keywords(tool) & vocabulary), index, tool) for index, tool in enumerate(tools)]
    found: list[tuple[Tool, int | None]] = [
        (tool, None) for score, _, tool in sorted(scored, key=lambda s: (-s[0], s[1])) if score > 0
    ]
    return found


def select_tools(request: ChatRequest) -> list[tuple[Tool, int | None]]:
    """The tools to call for this request (empty: answer with content instead)."""
    if not request.tools or request.tool_choice == "none":
        return []
    if request.tool_choice == "forced":
        forced: list[tuple[Tool, int | None]] = [(t, None) for t in request.tools if t.name == request.forced_tool]
        return forced[:1]
    chosen = match_tools(request.tools, request.last_user_text)
    if not chosen and request.tool_choice == "required":
        chosen = [(request.tools[0], None)]
    return chosen if request.parallel else chosen[:1]


def _focuses(chosen: list[tuple[Tool, int | None]], length: int) -> list[tuple[int, int] | None]:
    """For several tools named in the text: each one's slice, from its mention to the next one's."""
    positions = [pos for _, pos in chosen]
    if len(chosen) < 2 or any(pos is None for pos in positions):
        return [None] * len(chosen)
    starts = [pos or 0 for pos in positions]
    return [(start, end) for start, end in zip(starts, [*starts[1:], length], strict=True)]


def make_tool_calls(
    request: ChatRequest, chosen: list[tuple[Tool, int | None]], seed: str
) -> tuple[dict[str, Any], ...]:
    text = request.last_user_text
    calls = []
    for index, ((tool, _), focus) in enumerate(zip(chosen, _focuses(chosen, len(text)), strict=True)):
        arguments = fill(tool.parameters or {"type": "object"}, text, focus=focus)
        if not isinstance(arguments, dict):
            arguments = {}
        calls.append(
            {
                "id": "call_" + digest(seed, tool.name, index)[:24],
                "type": "function",
                "function": {"name": tool.name, "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
        )
    return tuple(calls)
