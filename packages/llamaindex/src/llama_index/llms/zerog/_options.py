"""Constructor arguments the 0G components do not have: honoured where they mean something, refused loudly otherwise.

LlamaIndex's pydantic components ignore unknown keyword arguments, so ``ZeroG(max_retries=5, api_base=...)`` would
lose both without a word. Users arrive from ``OpenAI`` / ``OpenAILike`` (llama-index-llms-openai[-like]) and
``OpenAIEmbedding`` with their knobs; :func:`sort_options` decides for each argument a component does not declare:

* an OpenAI request-body parameter (``top_p``, ``seed``, ``stop``, ...) is honoured: it moves into
  ``additional_kwargs`` and is sent with every request;
* a knob that has no 0G meaning (``api_key``, ``api_base``, ``default_headers``, ``http_client``, ...) raises
  :class:`zerog_compute.ConfigurationError` saying what to pass instead;
* anything else raises too, with the closest declared names ("did you mean").
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from typing import Any

from zerog_compute import ConfigurationError, RateLimit

CHAT_BODY_PARAMS = frozenset(
    {
        "top_p",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "user",
        "reasoning_effort",
        "response_format",
        "max_completion_tokens",
    }
)
"""OpenAI chat-completions parameters a chat component sends as they are (moved into ``additional_kwargs``)."""

EMBEDDING_BODY_PARAMS = frozenset({"encoding_format", "user"})
"""OpenAI embeddings parameters an embedding component sends as they are (moved into ``additional_kwargs``)."""

_KEY_HINT = "pass private_key= (a wallet key: Direct mode) or router_api_key= (a 0G Router 'sk-' key: Router mode)"
_URL_HINT = (
    "0G has no single API base: pass router_url= for the 0G Router (Router mode); in Direct mode each provider's "
    "URL comes from the chain (choose it with provider=, providers= or model=)"
)
_CLIENT_HINT = "pass client=zerog_compute.ZeroG(...) and/or async_client=zerog_compute.AsyncZeroG(...)"

REFUSED: dict[str, str] = {
    "api_key": _KEY_HINT,
    "api_base": _URL_HINT,
    "base_url": _URL_HINT,
    "api_version": "0G has no API versions; drop it",
    "default_headers": (
        "requests carry only the headers zerog-compute signs or sets; choose providers with provider=, providers=, "
        "strategy= and pool_options= instead of routing headers"
    ),
    "default_query": "0G requests take no extra query parameters; drop it",
    "http_client": _CLIENT_HINT,
    "async_http_client": _CLIENT_HINT,
    "reuse_client": "the 0G components always reuse their clients (one per event loop); drop it",
    "request_timeout": "use timeout= (seconds per request) and deadline= (seconds per call)",
    "tokenizer": "0G components count no tokens locally; set context_window= if the catalog's value is wrong",
    "is_chat_model": "0G components always use /chat/completions; drop it",
    "strict": "pass strict per tool in its schema (the tool specs are sent as they are); drop it",
    "n": "0G components return one choice per call; drop it",
}
"""OpenAI-style knobs with no 0G meaning, and what to pass instead."""


def sort_options(
    what: str, declared: Iterable[str], kwargs: dict[str, Any], body_params: frozenset[str]
) -> dict[str, Any]:
    """Split ``kwargs`` (the constructor's) into the declared ones, returned, and the request-body parameters,
    merged into the returned ``additional_kwargs``; raise :class:`ConfigurationError` for any other."""
    known = set(declared)
    unknown = [name for name in kwargs if name not in known]
    if not unknown:
        return kwargs
    problems = []
    for name in unknown:
        if name in body_params:
            continue
        if name in REFUSED:
            problems.append(f"{name}=: {REFUSED[name]}")
            continue
        close = difflib.get_close_matches(name, sorted(known | body_params), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else f"see help({what}) for its arguments"
        problems.append(f"{name}=: not an argument of {what}; {hint}")
    if problems:
        raise ConfigurationError(f"{what} cannot take " + "; ".join(problems))
    sorted_kwargs = {name: value for name, value in kwargs.items() if name in known}
    extra = {name: kwargs[name] for name in unknown}
    sorted_kwargs["additional_kwargs"] = {**extra, **dict(kwargs.get("additional_kwargs") or {})}
    return sorted_kwargs


def with_retries(rate_limit: RateLimit | None, max_retries: int | None) -> RateLimit | None:
    """``rate_limit`` with its retry budget replaced by ``max_retries`` (None: keep it)."""
    if max_retries is None:
        return rate_limit
    if rate_limit is None:
        if max_retries == 0:
            return None
        raise ConfigurationError(
            "max_retries needs the client-side rate limiter: rate_limit=None switches it off, and with it the retries "
            "of rate-limited answers; pass rate_limit=zerog_compute.RateLimit(rpm=0, max_retries=...) to keep "
            "retries without limiting"
        )
    return dataclasses.replace(rate_limit, max_retries=max_retries)
