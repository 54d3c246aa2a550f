"""Validation of an OpenAI chat request body into a small typed :class:`ChatRequest`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._common import ScriptedModelError

TOOL_ROLES = frozenset({"tool", "function"})
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_TOOL_CHOICES = {"auto": "auto", "none": "none", "required": "required", "any": "required"}


@dataclass(frozen=True)
class Message:
    role: str
    text: str
    images: tuple[str, ...] = ()
    tool_calls: tuple[dict[str, Any], ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...]
    tools_json: str
    tool_choice: str  # "auto" | "none" | "required" | "forced"
    forced_tool: str | None
    parallel: bool
    response_format: str  # "text" | "json_object" | "json_schema"
    schema: dict[str, Any]
    max_tokens: int | None
    stop: tuple[str, ...]

    @property
    def last_user(self) -> Message | None:
        return next((m for m in reversed(self.messages) if m.role == "user"), None)

    @property
    def last_user_text(self) -> str:
        last = self.last_user
        return last.text if last is not None else ""

    @property
    def user_turns(self) -> int:
        return sum(1 for m in self.messages if m.role == "user")

    @property
    def system_text(self) -> str:
        return "\n".join(m.text for m in self.messages if m.role in ("system", "developer"))


def parse_chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise ScriptedModelError("the request body must be a JSON object")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise ScriptedModelError(f"only n=1 is supported by the scripted model, got n={n!r}")
    tools = _parse_tools(body.get("tools"))
    choice, forced = _parse_tool_choice(body.get("tool_choice"), tools)
    fmt, schema = _parse_response_format(body.get("response_format"))
    return ChatRequest(
        messages=_parse_messages(body.get("messages")),
        tools=tools,
        tools_json=json.dumps(body.get("tools") or [], sort_keys=True, ensure_ascii=False),
        tool_choice=choice,
        forced_tool=forced,
        parallel=_parse_parallel(body.get("parallel_tool_calls")),
        response_format=fmt,
        schema=schema,
        max_tokens=_parse_max_tokens(body),
        stop=_parse_stop(body.get("stop")),
    )


def _parse_messages(raw: Any) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScriptedModelError("'messages' must be a non-empty list of message objects")
    return tuple(_parse_message(item, f"messages[{i}]") for i, item in enumerate(raw))


def _parse_message(raw: Any, where: str) -> Message:
    if not isinstance(raw, dict):
        raise ScriptedModelError(f"{where} must be an object")
    role = raw.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise ScriptedModelError(f"{where}.role must be one of {', '.join(ROLES)}; got {role!r}")
    text, images = _parse_content(raw.get("content"), where)
    calls = _parse_tool_calls(raw.get("tool_calls"), where) if role == "assistant" else ()
    call_id = raw.get("tool_call_id")
    if call_id is not None and not isinstance(call_id, str):
        raise ScriptedModelError(f"{where}.tool_call_id must be a string")
    return Message(role=role, text=text, images=images, tool_calls=calls, tool_call_id=call_id)


def _parse_content(content: Any, where: str) -> tuple[str, tuple[str, ...]]:
    if content is None:
        return "", ()
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        raise ScriptedModelError(f"{where}.content must be a string, a list of content parts or null")
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise ScriptedModelError(f"{where}.content[{j}] must be an object")
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise ScriptedModelError(f"{where}.content[{j}].text must be a string")
            texts.append(text)
        elif kind == "image_url":
            images.append(_image_url(part.get("image_url"), f"{where}.content[{j}]"))
        # input_audio, file, refusal and unknown part types are ignored.
    return "\n".join(texts), tuple(images)


def _image_url(raw: Any, where: str) -> str:
    url = raw.get("url") if isinstance(raw, dict) else raw
    if not isinstance(url, str) or not url:
        raise ScriptedModelError(f"{where}.image_url.url must be a non-empty string")
    return url


def _parse_tool_calls(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ScriptedModelError(f"{where}.tool_calls must be a list")
    for k, call in enumerate(raw):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ScriptedModelError(f"{where}.tool_calls[{k}] must have function.name")
    return tuple(raw)


def _parse_tools(raw: Any) -> tuple[Tool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ScriptedModelError("'tools' must be a list")
    return tuple(_parse_tool(item, f"tools[{i}]") for i, item in enumerate(raw))


def _parse_tool(raw: Any, where: str) -> Tool:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or raw.get("type", "function") != "function" or not isinstance(function, dict):
        raise ScriptedModelError(f"{where} must look like {{'type': 'function', 'function': {{'name': ...}}}}")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ScriptedModelError(f"{where}.function.name must be a non-empty string")
    description = function.get("description") or ""
    if not isinstance(description, str):
        raise ScriptedModelError(f"{where}.function.description must be a string")
    parameters = function.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ScriptedModelError(f"{where}.function.parameters must be a JSON schema object")
    return Tool(name=name, description=description, parameters=parameters)


def _parse_tool_choice(raw: Any, tools: tuple[Tool, ...]) -> tuple[str, str | None]:
    if raw is None:
        return "auto", None
    if isinstance(raw, str) and raw in _TOOL_CHOICES:
        mode = _TOOL_CHOICES[raw]
        if mode == "required" and not tools:
            raise ScriptedModelError(f"tool_choice {raw!r} needs 'tools'")
        return mode, None
    if isinstance(raw, dict) and raw.get("type") == "function":
        function = raw.get("function")
        name = function.get("name") if isinstance(function, dict) else raw.get("name")
        if not any(tool.name == name for tool in tools):
            raise ScriptedModelError(f"tool_choice names function {name!r}, which is not in 'tools'")
        return "forced", str(name)
    raise ScriptedModelError(
        "tool_choice must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}"
    )


def _parse_parallel(raw: Any) -> bool:
    if raw is None:
        return True
    if not isinstance(raw, bool):
        raise ScriptedModelError("parallel_tool_calls must be a boolean")
    return raw


def _parse_response_format(raw: Any) -> tuple[str, dict[str, Any]]:
    if raw is None:
        return "text", {}
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("text", "json_object"):
        return str(kind), {}
    if kind == "json_schema":
        spec = raw.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if schema is None and isinstance(spec, dict):
            schema = {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            raise ScriptedModelError("response_format.json_schema.schema must be a JSON schema object")
        return "json_schema", schema
    raise ScriptedModelError("response_format.type must be 'text', 'json_object' or 'json_schema'")


def _parse_max_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ScriptedModelError(f"{key} must be a positive integer, got {value!r}")
        return value
    return None


def _parse_stop(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ScriptedModelError("stop must be a string or a list of strings")
    return tuple(item for item in items if item)
