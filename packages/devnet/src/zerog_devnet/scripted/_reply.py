"""Content answers of the scripted model: tool-result summaries, text replies and JSON objects."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from typing import Any

from ._common import QUOTED_PATTERN, collapse, quoted_strings, short_hash
from ._request import TOOL_ROLES, ChatRequest
from ._schema import fill

__all__ = ["json_object_answer", "source_text", "text_reply", "tool_results_text"]

_ECHO_CHARS = 200
_MAX_EXPRESSIONS = 5

_REPEAT_QUOTED = re.compile(r"(?i:\b(?:repeat|say)\b)[^\"'`“\n]{0,60}?(?:" + QUOTED_PATTERN + ")")
_REPEAT_LEADING = re.compile(
    r"^\s*(?:(?:please|can you|could you|would you|now)[\s,]+)*(?:repeat|say)\b"
    r"(?:\s+(?:after me|back|exactly|the words?|the phrase|the following|this))*\s*[:,-]?\s*(.+?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_NOTHING_ELSE = re.compile(r"(?i)[\s,]*(?:and nothing else|nothing else|exactly)[.!?]*$")
_ONLY_WITH = re.compile(
    r"(?i:\b(?:only\s+(?:answer|respond|reply)\s+with|(?:answer|respond|reply)\s+only\s+with"
    r"|always\s+(?:answer|respond|reply)\s+with))\s*:?\s*(?:" + QUOTED_PATTERN + r"|([^\n.!?]+))"
)
_UPPER = re.compile(r"(?i)\b(?:upper\s*case|all caps|capital letters)\b")
_LOWER = re.compile(r"(?i)\blower\s*case\b")

_WORD_OPS = (
    (re.compile(r"(?i)\bmultiplied\s+by\b"), "*"),
    (re.compile(r"(?i)\btimes\b"), "*"),
    (re.compile(r"(?i)\bdivided\s+by\b"), "/"),
    (re.compile(r"(?i)\bplus\b"), "+"),
    (re.compile(r"(?i)\bminus\b"), "-"),
    (re.compile(r"(?i)\bto\s+the\s+power\s+of\b"), "**"),
    (re.compile(r"(?<=\d)\s*[x×]\s*(?=\d)"), " * "),
    (re.compile(r"÷"), "/"),
    (re.compile(r"\^"), "**"),
)
_NUM = r"\d+(?:\.\d+)?"
_EXPRESSION = re.compile(rf"[(\s-]*{_NUM}\)*(?:\s*(?:\*\*|[-+*/])\s*[(\s-]*{_NUM}\)*)+")
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_KEY_HINT = re.compile(r"(?i)\b(?:keys?|fields?|propert(?:y|ies)|attributes?)\b")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w-]{0,39}")
_COLON_KEY = re.compile(r"[\"'`]([A-Za-z_][\w-]{0,39})[\"'`]\s*:")
_KEY_LIST = re.compile(
    r"(?i)\b(?:keys?|fields?)\s*(?::|named|called)?\s+"
    r"([A-Za-z_]\w*(?:\s*(?:,\s*(?:and\s+)?|and\s+)[A-Za-z_]\w*)+)"
)


def source_text(request: ChatRequest) -> str:
    """What the answer is built from: the trailing tool results, else the last user message."""
    if request.messages[-1].role in TOOL_ROLES:
        return "\n".join(m.text for m in _trailing_tool_messages(request))
    return request.last_user_text


def _trailing_tool_messages(request: ChatRequest) -> list[Any]:
    trailing = []
    for message in reversed(request.messages):
        if message.role not in TOOL_ROLES:
            break
        trailing.append(message)
    return trailing[::-1]


def tool_results_text(request: ChatRequest) -> str:
    names = {call.get("id"): call["function"]["name"] for message in request.messages for call in message.tool_calls}
    lines = []
    for message in _trailing_tool_messages(request):
        name = names.get(message.tool_call_id)
        label = f"Tool result ({name})" if name else "Tool result"
        lines.append(f"{label}: {message.text}")
    return "\n".join(lines)


def text_reply(request: ChatRequest) -> str:
    body = tool_results_text(request) if request.messages[-1].role in TOOL_ROLES else _user_reply(request)
    return _apply_system(request.system_text, body)


def _user_reply(request: ChatRequest) -> str:
    message = request.last_user
    images = message.images if message is not None else ()
    parts = []
    if images:
        noun = "image" if len(images) == 1 else "images"
        parts.append(f"I see {len(images)} {noun}: {', '.join(short_hash(url) for url in images)}.")
    answer = answer_text(request.last_user_text, request.user_turns)
    if answer or not parts:
        parts.append(answer or "You sent an empty message.")
    return " ".join(parts)


def answer_text(text: str, turns: int = 1) -> str:
    """Repeat, arithmetic or echo answer to one user text ("" for an empty text)."""
    said = _repeat_target(text)
    if said is not None:
        return said
    arithmetic = _arithmetic(text)
    if arithmetic is not None:
        return arithmetic
    clean = collapse(text)
    if not clean:
        return ""
    reply = f'You said: "{clean[:_ECHO_CHARS]}{"..." if len(clean) > _ECHO_CHARS else ""}"'
    if turns > 1:
        reply += f" (this is turn {turns} of our conversation)"
    return reply


def _repeat_target(text: str) -> str | None:
    quoted = _REPEAT_QUOTED.search(text)
    if quoted:
        return next(group for group in quoted.groups() if group is not None)
    leading = _REPEAT_LEADING.match(text)
    if leading is None:
        return None
    said = _NOTHING_ELSE.sub("", leading.group(1)).rstrip(".!? \n")
    return said or None


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
            raise ValueError("power too large")
        result = _OPERATORS[type(node.op)](left, right)
        if isinstance(result, complex):
            raise ValueError("complex result")
        return result
    raise ValueError("not arithmetic")


def _format_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _balanced(expression: str) -> str:
    expression = expression.strip()
    while expression.startswith("(") and expression.count("(") > expression.count(")"):
        expression = expression[1:].strip()
    while expression.endswith(")") and expression.count(")") > expression.count("("):
        expression = expression[:-1].strip()
    return expression


def _arithmetic(text: str) -> str | None:
    normalised = text
    for pattern, symbol in _WORD_OPS:
        normalised = pattern.sub(symbol, normalised)
    answers = []
    for match in _EXPRESSION.finditer(normalised):
        expression = collapse(_balanced(match.group()))
        try:
            result = _format_number(_evaluate(ast.parse(expression, mode="eval")))
        except ZeroDivisionError:
            answers.append(f"{expression} is undefined (division by zero)")
        except (SyntaxError, ValueError, OverflowError, TypeError):
            continue
        else:
            answers.append(f"{expression} = {result}")
        if len(answers) == _MAX_EXPRESSIONS:
            break
    return "; ".join(answers) if answers else None


def _apply_system(system: str, body: str) -> str:
    if not system:
        return body
    only = _ONLY_WITH.search(system)
    if only:
        return next(group for group in only.groups() if group is not None).strip()
    if _UPPER.search(system):
        return body.upper()
    if _LOWER.search(system):
        return body.lower()
    return body


def _requested_keys(text: str) -> list[str]:
    keys = [match.group(1) for match in _COLON_KEY.finditer(text)]
    if _KEY_HINT.search(text):
        keys += [inner for _, inner in quoted_strings(text) if _IDENTIFIER.fullmatch(inner)]
    for match in _KEY_LIST.finditer(text):
        keys += [k for k in re.split(r"\s*(?:,\s*(?:and\s+)?|and\s+)", match.group(1)) if k]
    return list(dict.fromkeys(keys))


def json_object_answer(text: str, fallback: str) -> dict[str, Any]:
    """The object for ``response_format: json_object``: the keys the text asks for, else ``answer``."""
    keys = _requested_keys(text)
    if not keys:
        return {"answer": fallback}
    schema = {"type": "object", "properties": {key: {"type": "string"} for key in keys}}
    value = fill(schema, text, avoid=keys)
    return value if isinstance(value, dict) else {"answer": fallback}
