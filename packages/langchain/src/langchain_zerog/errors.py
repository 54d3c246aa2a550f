"""The errors of this package: each ``zerog_compute`` error is also the matching langchain-core model error.

``ChatZeroG``, ``ZeroGEmbeddings`` and the tools raise an instance of a class built from two bases, the
``zerog_compute`` error class (attributes such as ``status_code``, ``retry_after`` and ``errors`` kept) and the
``langchain_core.exceptions`` class that agent middleware, retries and fallbacks classify by
(``ModelRateLimitError``, ``ModelTimeoutError``, …); the original error is its ``__cause__``. One class per
pair, built once, named after the zerog class; instances pickle. :func:`langchain_error_type` is the table
(the README's "Errors to catch" shows it). langchain-core before 1.6 has no model errors: there the zerog
errors are raised unchanged.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import langchain_core.exceptions as lc_exceptions
from langchain_core.tools import ToolException

from zerog_compute import (
    ChainError,
    ConfigurationError,
    ExhaustedError,
    InvalidTokenError,
    LedgerError,
    NotAcknowledgedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ResponseTooLargeError,
    ServiceNotFoundError,
    ZeroGError,
)

__all__ = ["as_langchain_error", "langchain_error_type", "model_errors", "tool_error"]

F = TypeVar("F", bound=Callable[..., Any])
_CONTEXT_WORDS = ("context length", "context window", "maximum context", "too many tokens", "context_length")


def _lc(name: str) -> type[Exception] | None:
    """A ``langchain_core.exceptions`` class, or None where the installed langchain-core lacks it."""
    found = getattr(lc_exceptions, name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else None


_BY_STATUS = {
    401: "ModelAuthenticationError",
    403: "ModelPermissionDeniedError",
    404: "ModelNotFoundError",
    410: "ModelNotFoundError",  # the model expired on this provider
}


def _is_timeout(error: BaseException) -> bool:
    """ProviderTimeoutError, StreamTimeoutError, DeadlineExceededError: the zerog errors that are TimeoutErrors."""
    return isinstance(error, TimeoutError)


def _class_name(error: ZeroGError) -> str:
    """The name of the langchain-core class that matches ``error`` (the table, most specific rule first)."""
    if _is_timeout(error):
        return "ModelTimeoutError"
    if isinstance(error, ExhaustedError):  # a pool gave up: timeouts if every tried provider timed out
        tried = list(error.errors.values())
        return "ModelTimeoutError" if tried and all(_is_timeout(e) for e in tried) else "ModelAPIError"
    if isinstance(error, RateLimitedError):
        return "ModelRateLimitError"
    if isinstance(error, InvalidTokenError):
        return "ModelPermissionDeniedError" if error.status_code == 403 else "ModelAuthenticationError"
    if isinstance(error, RequestRejectedError):
        if any(word in str(error).lower() for word in _CONTEXT_WORDS):
            return "ContextOverflowError"
        return _BY_STATUS.get(error.status_code or 0, "ModelInvalidRequestError")
    if isinstance(error, ResponseTooLargeError):
        return "ModelAPIError"
    if isinstance(error, ProviderUnavailableError):
        return "ModelAPIError" if error.status_code is not None else "ModelConnectionError"
    if isinstance(error, ProviderError):
        return "ModelAPIError"
    if isinstance(error, ServiceNotFoundError):
        return "ModelNotFoundError"
    if isinstance(error, (NotAcknowledgedError, LedgerError)):
        return "ModelPermissionDeniedError"
    if isinstance(error, ConfigurationError):
        return "ModelInvalidRequestError"
    if type(error) is ChainError:  # the RPC node could not be reached or answered nonsense
        return "ModelConnectionError"
    return "ModelError"  # a verification failure, a revert, an uncertain transaction…: not safely retryable


def langchain_error_type(error: ZeroGError) -> type[Exception] | None:
    """The langchain-core model error class that matches ``error``; None before langchain-core 1.6 (no model
    errors there)."""
    model_error = _lc("ModelError")
    if model_error is None:
        return None
    found = _lc(_class_name(error))
    return found if found is not None and issubclass(found, model_error) else model_error


class _Bridged(Exception):
    """Mixin of the combined classes: pickles by rebuilding the class from its two bases."""

    def __reduce__(self) -> tuple[Any, ...]:
        bases = type(self).__bases__
        return _rebuild, (bases[1], bases[2], bases[3:], self.args, dict(self.__dict__))


_COMBINED: dict[tuple[type[Exception], ...], type[Exception]] = {}
_COMBINED_LOCK = threading.Lock()


def combined_type(zerog_type: type[ZeroGError], lc_type: type[Exception], *extra: type[Exception]) -> type[Exception]:
    """The class that is both ``zerog_type`` and ``lc_type`` (and ``extra``, e.g. ``ToolException``); one per set."""
    bases: tuple[type[Exception], ...] = (_Bridged, zerog_type, lc_type, *extra)
    with _COMBINED_LOCK:
        found = _COMBINED.get(bases)
        if found is None:
            namespace = {"__module__": __name__, "__qualname__": zerog_type.__name__, "__doc__": zerog_type.__doc__}
            found = _COMBINED[bases] = type(zerog_type.__name__, bases, namespace)
        return found


def _rebuild(
    zerog_type: type[ZeroGError],
    lc_type: type[Exception],
    extra: tuple[type[Exception], ...],
    args: tuple[Any, ...],
    state: dict[str, Any],
) -> Exception:
    cls = combined_type(zerog_type, lc_type, *extra)
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


def as_langchain_error(error: ZeroGError, *extra: type[Exception]) -> Exception:
    """A copy of ``error`` that is also the matching langchain-core model error (and ``extra``): same message and
    attributes, ``error`` as its ``__cause__``. Unchanged when it already is one, or before langchain-core 1.6."""
    lc_type = langchain_error_type(error)
    if isinstance(error, _Bridged) or lc_type is None:
        return error
    bridged = _rebuild(type(error), lc_type, extra, error.args, dict(error.__dict__))
    bridged.__cause__ = error
    return bridged


def tool_error(error: ZeroGError) -> ToolException:
    """What a tool raises for ``error``: a ``ToolException`` (the agent reads its message) that is also the zerog
    error and the matching langchain-core model error."""
    bridged = as_langchain_error(error, ToolException)
    return bridged if isinstance(bridged, ToolException) else ToolException(str(error))


@contextmanager
def model_errors() -> Iterator[None]:
    """Re-raise a ``ZeroGError`` from the block as :func:`as_langchain_error` of it."""
    try:
        yield
    except ZeroGError as error:
        bridged = as_langchain_error(error)
        if bridged is error:
            raise
        raise bridged from error


def bridge_errors(function: F) -> F:
    """Decorate a method (plain, async, generator or async generator) so that a ``ZeroGError`` leaves it as
    :func:`as_langchain_error` of it."""
    if inspect.isasyncgenfunction(function):

        async def agen(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            with model_errors():
                async for item in function(*args, **kwargs):
                    yield item

        return cast("F", functools.wraps(function)(agen))
    if inspect.isgeneratorfunction(function):

        def gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with model_errors():
                yield from function(*args, **kwargs)

        return cast("F", functools.wraps(function)(gen))
    if inspect.iscoroutinefunction(function):

        async def coro(*args: Any, **kwargs: Any) -> Any:
            with model_errors():
                return await function(*args, **kwargs)

        return cast("F", functools.wraps(function)(coro))

    def plain(*args: Any, **kwargs: Any) -> Any:
        with model_errors():
            return function(*args, **kwargs)

    return cast("F", functools.wraps(function)(plain))
