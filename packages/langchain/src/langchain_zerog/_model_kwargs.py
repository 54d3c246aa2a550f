"""Constructor arguments a class does not know go to ``model_kwargs`` (sent with every request), as ChatOpenAI does.

Each one moved gives a warning, with a "did you mean" for a near miss of a known argument (``temprature=0``).
Never sent: what looks like a secret (a near miss of ``private_key`` / ``router_api_key``, a ``SecretStr``, a
64-hex-digit key, an ``sk-``/``mk-``/``app-sk-`` token): that raises instead. ``model_kwargs`` itself may not
carry the class's own arguments (pass ``temperature=`` as an argument) nor the request's fixed parts.

The secret cases raise ``TypeError`` (as Python does for an unexpected argument), not ``ValueError``: pydantic
would quote the input, the secret included, in its ``ValidationError``.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

SECRET_FIELDS = ("private_key", "router_api_key", "api_key")
RESERVED = ("messages", "stream", "model", "prompt", "input")
"""Request parts the chat model sets itself."""
_KEY_LIKE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$|^(app-sk-|sk-|mk-)\S{8,}$")


def field_names(model: type[BaseModel]) -> set[str]:
    """Every name a pydantic model accepts: field names and their aliases."""
    names = set(model.model_fields)
    names.update(field.alias for field in model.model_fields.values() if field.alias)
    return names


def _closest(name: str, known: Collection[str]) -> str | None:
    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return matches[0] if matches else None


def _looks_secret(name: str, value: Any) -> bool:
    if isinstance(value, SecretStr) or _closest(name, SECRET_FIELDS) is not None:
        return True
    return isinstance(value, str) and bool(_KEY_LIKE.match(value.strip()))


def move_unknown(values: Any, *, owner: str, known: Collection[str], own: Collection[str]) -> Any:
    """``values`` (a model's raw input) with unknown arguments moved into ``model_kwargs``.

    ``known``: every accepted name; ``own``: the names ``model_kwargs`` may not repeat (the class's own fields).
    """
    if not isinstance(values, Mapping):
        return values
    values = dict(values)
    extra = dict(values.get("model_kwargs") or {})
    _check_model_kwargs(extra, owner=owner, own=own)
    for name in [name for name in values if name not in known]:
        value = values.pop(name)
        guess = _closest(name, known)
        if _looks_secret(name, value):
            hint = f"; did you mean {guess}=?" if guess else ""
            raise TypeError(f"{owner} got an unknown argument {name!r} that looks like a secret{hint} (not sent)")
        if name in extra:
            raise ValueError(f"{name!r} was passed both as an argument and in model_kwargs: pass it once")
        hint = f" Did you mean {guess}=?" if guess else " Check that the provider accepts it."
        warnings.warn(
            f"{owner} has no argument {name!r}: it was moved to model_kwargs and is sent with every request.{hint}",
            UserWarning,
            stacklevel=2,
        )
        extra[name] = value
    if extra or "model_kwargs" in values:
        values["model_kwargs"] = extra
    return values


def _check_model_kwargs(extra: Mapping[str, Any], *, owner: str, own: Collection[str]) -> None:
    for name, value in extra.items():
        if name in own:
            raise ValueError(f"pass {name}= to {owner} as its own argument, not in model_kwargs")
        if name in RESERVED:
            raise ValueError(f"{owner} sets {name!r} itself: it cannot be in model_kwargs")
        if _looks_secret(name, value):
            raise TypeError(f"model_kwargs[{name!r}] looks like a secret: it would be sent to the provider")
