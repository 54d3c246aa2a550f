"""Pool and funding events of one request, and their delivery as LangChain custom events.

The core reports pool steps through the pool's ``on_event`` and funding decisions through the
``FundingPolicy`` hooks; both are shared by every request of a client. A context variable holds the
current request's :class:`EventLog`, so concurrent requests (``batch``, ``abatch``) each see only their
own events. The chat model lists them in ``response_metadata["zerog_events"]`` and dispatches them as
custom events (``zerog_pool_event``, ``zerog_funding_event``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
    adispatch_custom_event,
    dispatch_custom_event,
)

from zerog_compute import FundingEvent, FundingPolicy, PoolEvent

log = logging.getLogger(__name__)
_FUNDING_HOOKS = (
    "before_fund",
    "after_fund",
    "on_low_balance",
    "on_budget_exhausted",
    "on_anomaly",
    "on_breaker_open",
)


@dataclass
class EventLog:
    """Events of one request: pool steps and funding decisions, as JSON-ready dicts."""

    sink: Callable[[str, dict[str, Any]], None] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def add(self, name: str, data: dict[str, Any]) -> None:
        self.events.append({"event": name, **data})
        if self.sink is not None:
            try:
                self.sink(name, data)
            except Exception:  # a broken callback handler must not break the request
                self.pending.append((name, data))
        else:
            self.pending.append((name, data))

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        """Events not yet handed to a sink (the async path dispatches them itself)."""
        out, self.pending = self.pending, []
        return out


_CURRENT: ContextVar[EventLog | None] = ContextVar("langchain_zerog_events", default=None)


@contextlib.contextmanager
def collecting(sink: Callable[[str, dict[str, Any]], None] | None = None) -> Iterator[EventLog]:
    """Collect the pool and funding events raised while the block runs (in this context)."""
    log = EventLog(sink)
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        with contextlib.suppress(ValueError):  # a generator closed from another context
            _CURRENT.reset(token)


def record_pool_event(event: PoolEvent) -> None:
    log = _CURRENT.get()
    if log is not None:
        log.add("zerog_pool_event", event.model_dump(mode="json", exclude_none=True))


def funding_hook(user_hook: Callable[[FundingEvent], Any] | None) -> Callable[[FundingEvent], Any]:
    def hook(event: FundingEvent) -> Any:
        log = _CURRENT.get()
        if log is not None:
            log.add("zerog_funding_event", event.model_dump(mode="json"))
        return None if user_hook is None else user_hook(event)  # before_fund's veto passes through

    return hook


def observed_policy(policy: FundingPolicy | None) -> FundingPolicy | None:
    """The same policy with hooks that also report to the current request's event log."""
    if policy is None:
        return None
    return policy.model_copy(update={name: funding_hook(getattr(policy, name)) for name in _FUNDING_HOOKS})


# --------------------------------------------------------------------------- LangChain delivery


def sink(
    run_manager: CallbackManagerForLLMRun | None, *, fallback: bool = False
) -> Callable[[str, dict[str, Any]], None] | None:
    """Dispatch each event as a LangChain custom event, as it happens: on the chat model's run when
    LangChain handed us its run manager (invoke, batch), else (``stream()`` does not) on the enclosing run."""
    if run_manager is None:
        return _to_enclosing_run if fallback else None
    if not run_manager.handlers:
        return None
    manager = CallbackManager(
        handlers=run_manager.handlers,
        parent_run_id=run_manager.parent_run_id,
        tags=run_manager.tags,
        metadata=run_manager.metadata,
    )
    return lambda name, data: manager.on_custom_event(name, data, run_id=run_manager.run_id)


def _to_enclosing_run(name: str, data: dict[str, Any]) -> None:
    with contextlib.suppress(RuntimeError):  # no enclosing run: the events are on the final chunk only
        dispatch_custom_event(name, data)


async def adispatch(run_manager: AsyncCallbackManagerForLLMRun | None, events: EventLog) -> None:
    pending = events.drain()
    if not pending:
        return
    if run_manager is None:  # astream(): LangChain keeps the run manager; use the enclosing run
        for name, data in pending:
            with contextlib.suppress(RuntimeError):
                await adispatch_custom_event(name, data)
        return
    if not run_manager.handlers:
        return
    manager = AsyncCallbackManager(
        handlers=run_manager.handlers,
        parent_run_id=run_manager.parent_run_id,
        tags=run_manager.tags,
        metadata=run_manager.metadata,
    )
    for name, data in pending:
        try:
            await manager.on_custom_event(name, data, run_id=run_manager.run_id)
        except Exception:
            log.exception("custom event %s could not be dispatched", name)
