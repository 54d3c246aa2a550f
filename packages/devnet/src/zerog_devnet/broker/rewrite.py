"""The request rewrites of a production broker, for the devnet's rewriting provider.

Production brokers rewrite a chat request before forwarding it upstream and sign the body they forwarded
(provider-protocol §2.3, §5.2): ``stream_options.include_usage`` injected into streams, the model filled in,
operator fields stripped or injected, ``max_tokens`` translated to ``max_completion_tokens``, and the JSON
re-marshalled with sorted keys. Some mainnet providers do this on every request, so the request hash they sign
is never the one of the client's bytes, while the response hash is. The default devnet provider rewrites only
what it must (a missing model, a stream without usage); a provider with ``rewrite_requests`` does all of this.
"""

from __future__ import annotations

from typing import Any

STRIPPED_FIELDS = ("user", "metadata", "store")
"""Fields an operator strips before forwarding (identity and retention hints the upstream must not see)."""
INJECTED_FIELDS: dict[str, Any] = {"chat_template_kwargs": {"enable_thinking": False}}
"""Fields an operator injects (vLLM template settings); the scripted model ignores them."""


def production_rewrite(request: dict[str, Any], *, model: str) -> dict[str, Any]:
    """The body a production broker forwards for ``request`` (a new dict; the caller re-encodes it)."""
    forwarded = {key: value for key, value in request.items() if key not in STRIPPED_FIELDS}
    forwarded.setdefault("model", model)
    if "max_tokens" in forwarded and "max_completion_tokens" not in forwarded:
        forwarded["max_completion_tokens"] = forwarded.pop("max_tokens")
    if forwarded.get("stream") is True:
        options = forwarded.get("stream_options")
        forwarded["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    for key, value in INJECTED_FIELDS.items():
        forwarded.setdefault(key, value)
    return forwarded
