"""Every error ChatZeroG, ZeroGEmbeddings and the tools raise is also the matching langchain-core model error
(``langchain_core.exceptions``), keeps the zerog error's class and attributes, and has it as ``__cause__``.

Real failures from the devnet: a hanging provider (timeout), a 429 storm, a 502, a dropped connection, a
rejected request, an unfunded wallet, a bad Router key, an unknown Router model. The README's "Errors to catch"
table is checked against the mapping."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import langchain_core.exceptions as lc_exceptions
import pytest

from langchain_zerog import ChatZeroG, ZeroGEmbeddings, ZeroGImageGenerationTool
from langchain_zerog.errors import as_langchain_error, langchain_error_type
from zerog_compute import (
    ChainError,
    ConfigurationError,
    DeadlineExceededError,
    ExhaustedError,
    InsufficientBalanceError,
    InvalidTokenError,
    NotAcknowledgedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ResponseTooLargeError,
    ServiceNotFoundError,
    StreamInterruptedError,
    StreamTimeoutError,
    VerificationError,
    ZeroGError,
)

from .conftest import CHAT_MODEL, EMBED_MODEL, LcNet

HAS_MODEL_ERRORS = hasattr(lc_exceptions, "ModelError")
needs_model_errors = pytest.mark.skipif(not HAS_MODEL_ERRORS, reason="langchain-core < 1.6 has no model errors")
README = Path(__file__).resolve().parents[2] / "packages" / "langchain" / "README.md"
ASK = "What is 2 + 3?"


def lc_class(name: str) -> type[Exception]:
    found = getattr(lc_exceptions, name)
    assert isinstance(found, type)
    return found


def bridged(error: BaseException, zerog_type: type[ZeroGError], lc_name: str) -> Any:
    """Check ``error`` is both classes, with the original zerog error (same class, same attributes) as cause."""
    assert isinstance(error, zerog_type) and isinstance(error, lc_class(lc_name)), type(error).__mro__
    cause = error.__cause__
    assert isinstance(cause, zerog_type) and not isinstance(cause, lc_class(lc_name))
    assert str(error) == str(cause) and vars(error) == vars(cause)
    return error


def pinned(lc_net: LcNet, name: str = "lc-a", **kwargs: Any) -> ChatZeroG:
    return ChatZeroG(model=CHAT_MODEL, provider=lc_net.address(name), **lc_net.connection(), **kwargs)


# --------------------------------------------------------------------------- real failures


@needs_model_errors
@pytest.mark.devnet
def test_a_slow_provider_times_out_as_a_model_timeout(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(hang=True)
    llm = pinned(lc, timeout=1)
    with pytest.raises(TimeoutError) as plain:
        llm.invoke(ASK)
    error = bridged(plain.value, ProviderTimeoutError, "ModelTimeoutError")
    assert error.is_retryable and "ReadTimeout" in str(error)  # retry middleware reads is_retryable
    assert error.provider == lc.address("lc-a")
    with pytest.raises(TimeoutError) as streamed:
        list(llm.stream(ASK))
    bridged(streamed.value, ProviderTimeoutError, "ModelTimeoutError")
    pool = ChatZeroG(model=CHAT_MODEL, providers=[lc.address("lc-a")], timeout=1, **lc.connection())
    with pytest.raises(ExhaustedError) as exhausted:  # a pool whose every provider timed out
        pool.invoke(ASK)
    bridged(exhausted.value, ExhaustedError, "ModelTimeoutError")
    assert isinstance(exhausted.value.errors[lc.address("lc-a")], ProviderTimeoutError)


@needs_model_errors
@pytest.mark.devnet
@pytest.mark.anyio
async def test_async_calls_and_router_mode_raise_model_errors_too(lc: LcNet) -> None:
    lc.net.provider("lc-a").faults.set(hang=True)
    with pytest.raises(TimeoutError) as plain:
        await pinned(lc, timeout=1).ainvoke(ASK)
    bridged(plain.value, ProviderTimeoutError, "ModelTimeoutError")
    with pytest.raises(TimeoutError) as streamed:
        [chunk async for chunk in pinned(lc, timeout=1).astream(ASK)]
    bridged(streamed.value, ProviderTimeoutError, "ModelTimeoutError")
    router = {**lc.router_connection(), "provider": lc.address("lc-a"), "timeout": 1}
    with pytest.raises(TimeoutError) as routed:
        await ChatZeroG(model=CHAT_MODEL, **router).ainvoke(ASK)
    bridged(routed.value, ProviderTimeoutError, "ModelTimeoutError")
    bad_key = {**lc.router_connection(), "router_api_key": "sk-not-a-real-key-0123"}
    with pytest.raises(lc_class("ModelAuthenticationError")) as auth:
        ChatZeroG(model=CHAT_MODEL, **bad_key).invoke(ASK)
    bridged(auth.value, InvalidTokenError, "ModelAuthenticationError")
    with pytest.raises(lc_class("ModelNotFoundError")) as missing:
        await ChatZeroG(model="no/such-model", **lc.router_connection()).ainvoke(ASK)
    bridged(missing.value, ServiceNotFoundError, "ModelNotFoundError")


@needs_model_errors
@pytest.mark.devnet
def test_provider_failures_map_to_their_model_errors(lc: LcNet) -> None:
    faults = lc.net.provider("lc-a").faults
    faults.set(rate_limit_storm=True)
    with pytest.raises(lc_class("ModelRateLimitError")) as limited:
        pinned(lc).invoke(ASK)
    error = bridged(limited.value, RateLimitedError, "ModelRateLimitError")
    assert error.status_code == 429 and error.retry_after == error.__cause__.retry_after
    faults.clear()
    faults.set(http_status=502)
    with pytest.raises(lc_class("ModelAPIError")) as server:
        pinned(lc).invoke(ASK)
    assert bridged(server.value, ProviderUnavailableError, "ModelAPIError").status_code == 502
    faults.clear()
    faults.set(drop_connection=True)
    with pytest.raises(lc_class("ModelConnectionError")) as dropped:
        pinned(lc).invoke(ASK)
    bridged(dropped.value, ProviderUnavailableError, "ModelConnectionError")
    faults.clear()
    with pytest.raises(lc_class("ModelInvalidRequestError")) as rejected:
        pinned(lc).invoke(ASK, max_tokens=0)
    assert bridged(rejected.value, RequestRejectedError, "ModelInvalidRequestError").status_code == 400
    with pytest.raises(lc_class("ModelPermissionDeniedError")) as unfunded:
        ChatZeroG(model=CHAT_MODEL, provider=lc.address("lc-a"), **lc.connection(user=2)).invoke(ASK)
    bridged(unfunded.value, NotAcknowledgedError, "ModelPermissionDeniedError")  # checked before sending


@needs_model_errors
@pytest.mark.devnet
def test_embeddings_and_tools_raise_model_errors(lc: LcNet) -> None:
    from langchain_core.tools import ToolException

    lc.net.provider("lc-embed").faults.set(http_status=503)
    with pytest.raises(lc_class("ModelAPIError")) as embedding:
        ZeroGEmbeddings(provider=lc.address("lc-embed"), model=EMBED_MODEL, **lc.connection()).embed_query("cats")
    bridged(embedding.value, ProviderUnavailableError, "ModelAPIError")
    lc.net.provider("lc-image").faults.set(hang=True)
    strict = ZeroGImageGenerationTool(
        provider=lc.address("lc-image"), timeout=1, handle_tool_error=False, **lc.connection()
    )
    with pytest.raises(ToolException) as tool_error:
        strict.invoke({"prompt": "a cat"})
    bridged(tool_error.value, ProviderTimeoutError, "ModelTimeoutError")
    lenient = strict.model_copy(update={"handle_tool_error": True})
    assert "unreachable" in lenient.invoke({"prompt": "a cat"})  # the agent reads the message


# --------------------------------------------------------------------------- the mapping itself


SAMPLES: dict[str, ZeroGError] = {
    "`ProviderTimeoutError`": ProviderTimeoutError("read timed out"),
    "`StreamTimeoutError`": StreamTimeoutError("stalled", received=2, text="Hel"),
    "`DeadlineExceededError`": DeadlineExceededError("past the deadline", deadline=1.0),
    "`ExhaustedError` (every provider timed out)": ExhaustedError(
        "all failed", errors={"0xa": ProviderTimeoutError("slow")}
    ),
    "`ExhaustedError` (otherwise)": ExhaustedError("all failed", errors={"0xa": ProviderUnavailableError("502")}),
    "`RateLimitedError`": RateLimitedError("429", retry_after=2.0, status_code=429),
    "`InvalidTokenError`": InvalidTokenError("bad key", status_code=401),
    "`InvalidTokenError` (HTTP 403)": InvalidTokenError("not allowed", status_code=403),
    "`RequestRejectedError`": RequestRejectedError("bad parameter", status_code=400),
    "`RequestRejectedError` (context too long)": RequestRejectedError(
        "This model's maximum context length is 8192 tokens", status_code=400
    ),
    "`RequestRejectedError` (HTTP 404 or 410)": RequestRejectedError("the model has expired", status_code=410),
    "`ServiceNotFoundError`": ServiceNotFoundError("no provider serves it"),
    "`ResponseTooLargeError`": ResponseTooLargeError("too large", limit=10),
    "`ProviderUnavailableError` (HTTP 5xx)": ProviderUnavailableError("502", status_code=502),
    "`ProviderUnavailableError` (no answer)": ProviderUnavailableError("connection refused"),
    "`StreamInterruptedError`": StreamInterruptedError("cut", received=3),
    "`ChainError` (RPC unreachable)": ChainError("cannot reach the RPC endpoint"),
    "`InsufficientBalanceError`, other `LedgerError`s": InsufficientBalanceError("top up"),
    "`NotAcknowledgedError`": NotAcknowledgedError("acknowledge first"),
    "`ConfigurationError`": ConfigurationError("bad argument"),
    "`VerificationError`, other `ZeroGError`s": VerificationError("bad signature"),
}


def readme_table() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Errors to catch", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    return [(zerog.strip(), re.sub(r"[`\s]", "", lc_name)) for zerog, lc_name in rows]


@needs_model_errors
def test_the_readme_table_is_the_mapping() -> None:
    table = readme_table()
    assert [zerog for zerog, _ in table] == list(SAMPLES), "README rows and SAMPLES differ"
    for zerog, lc_name in table:
        error = SAMPLES[zerog]
        assert langchain_error_type(error) is lc_class(lc_name), zerog
        assert isinstance(as_langchain_error(error), lc_class(lc_name))


@needs_model_errors
def test_bridged_errors_pickle_and_are_built_once() -> None:
    error = RateLimitedError("slow down", retry_after=3.0, status_code=429, provider="0xabc")
    first, second = as_langchain_error(error), as_langchain_error(RateLimitedError("again"))
    assert type(first) is type(second) and type(first).__name__ == "RateLimitedError"
    restored = pickle.loads(pickle.dumps(first))
    assert type(restored) is type(first) and vars(restored) == vars(first) and str(restored) == "slow down"
    assert as_langchain_error(first) is first  # never wrapped twice
    timeout = as_langchain_error(DeadlineExceededError("late", deadline=2.0))
    assert isinstance(timeout, TimeoutError) and pickle.loads(pickle.dumps(timeout)).deadline == 2.0


@pytest.mark.skipif(HAS_MODEL_ERRORS, reason="langchain-core >= 1.6 has model errors")
def test_without_model_errors_the_zerog_errors_are_raised_unchanged() -> None:
    error = RateLimitedError("slow down")
    assert langchain_error_type(error) is None and as_langchain_error(error) is error
