"""Streamed chat answers, independent of I/O: bytes in, chunks out, a record at the end.

:class:`ChunkStream` is what both backends share; :class:`StreamState` is a Direct-mode stream from one
provider, :class:`RouterStream` a stream from the 0G Router. The last chunk (the usage chunk) is held
back until the stream ends so it can carry the ``zerog`` record with the final fee, chat id and
verification handle.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import records, sse
from ._io import loads_json, timed_out, unreachable_type
from .errors import ProviderUnavailableError, StreamInterruptedError, StreamTimeoutError
from .http_errors import redact, redact_router
from .types import ChatCompletionChunk, ZeroGRecord
from .verification import Sha256

if TYPE_CHECKING:
    from .direct import Prepared
    from .router.backend import RouterRequest

log = logging.getLogger(__name__)


class ChunkStream:
    """Bytes in, chunks out: the SSE decoder and chunk accumulator behind every streamed answer.

    The last chunk is held back until the stream ends, so it can carry the record. Subclasses name
    the source (for messages) and may look at events on the way (:meth:`_observe`).
    """

    def __init__(self, source: str | None = None) -> None:
        self.decoder = sse.SSEDecoder(provider=source)
        self.accumulator = sse.ChatStreamAccumulator()
        self.digest = hashlib.sha256()
        self.received = 0
        self.headers: Mapping[str, str] = {}
        self._held: ChatCompletionChunk | None = None

    def start(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        """Chunks that are ready to hand to the caller (the bytes are hashed, not kept)."""
        self.digest.update(data)
        self.received += len(data)
        return self._collect(self.decoder.feed(data))

    def _observe(self, event: sse.SSEEvent) -> None:
        """Hook for subclasses: see every event before it is accumulated."""

    def _collect(self, events: list[sse.SSEEvent]) -> list[ChatCompletionChunk]:
        ready = []
        for event in events:
            if not self.accumulator.done:
                self._observe(event)
            chunk = self.accumulator.add(event)
            if chunk is None:
                continue
            chunk.zerog = None  # only the client writes records: a provider cannot smuggle one in
            if self._held is not None:
                ready.append(self._held)
            self._held = chunk
        return ready

    def _redact(self, text: str) -> str:
        return redact(text)

    def sha256(self) -> Sha256:
        """The SHA-256 of every byte received (what the provider's signature binds)."""
        return Sha256(self.digest.hexdigest())

    def _who(self) -> str:
        raise NotImplementedError

    def _provider(self) -> str | None:
        raise NotImplementedError

    def _unreachable(self, cause: BaseException) -> ProviderUnavailableError:
        raise NotImplementedError

    def interrupted(self, cause: BaseException) -> ProviderUnavailableError:
        """The error for a stream that failed: unreachable before any byte, interrupted after."""
        if not self.received:
            return self._unreachable(cause)
        received = self.accumulator.chunks_received
        if timed_out(cause):
            return StreamTimeoutError(
                f"stream from {self._who()} stalled after {received} chunks "
                f"({len(self.accumulator.content)} characters of text): no byte within the read timeout "
                f"({type(cause).__name__}). Retry the request (or raise timeout=); what was received is on the "
                "exception as .text",
                received=received,
                text=self.accumulator.content,
                provider=self._provider(),
            )
        return StreamInterruptedError(
            f"stream from {self._who()} broke after {received} chunks "
            f"({len(self.accumulator.content)} characters of text): {cause}. Retry the request; "
            "what was received is on the exception as .text",
            received=received,
            text=self.accumulator.content,
            provider=self._provider(),
        )

    def drain(self) -> list[ChatCompletionChunk]:
        """Flush and return the remaining chunks (the held one last); raise when the stream failed."""
        ready = self._collect(self.decoder.flush())
        if self.accumulator.provider_error is not None:
            raise self.interrupted(ConnectionError(self._redact(str(self.accumulator.provider_error))))
        if not self.accumulator.done:
            raise self.interrupted(ConnectionError("the stream ended without [DONE]"))
        if self.accumulator.after_done:
            log.warning("%s sent %d events after [DONE]; ignored", self._who(), self.accumulator.after_done)
        if self._held is not None:
            ready.append(self._held)
            self._held = None
        return ready


class StreamState(ChunkStream):
    """A Direct-mode stream from one provider."""

    def __init__(self, prepared: Prepared) -> None:
        super().__init__()
        self.prepared = prepared

    def _who(self) -> str:
        return self.prepared.service.provider

    def _provider(self) -> str | None:
        return self.prepared.service.provider

    def _unreachable(self, cause: BaseException) -> ProviderUnavailableError:
        return unreachable_type(cause)(
            f"provider {self.prepared.service.provider} unreachable: {cause.__class__.__name__}: {cause}",
            provider=self.prepared.service.provider,
        )

    def finish(self) -> tuple[list[ChatCompletionChunk], ZeroGRecord]:
        """Flush, build the record, and return the remaining chunks (the last carries the record)."""
        ready = self.drain()
        record = self.record()
        if ready:
            ready[-1].zerog = record
        return ready, record

    def record(self) -> ZeroGRecord:
        acc, prepared = self.accumulator, self.prepared
        usage = acc.usage.model_dump() if acc.usage is not None else {}
        return ZeroGRecord(
            provider=prepared.service.provider,
            model=prepared.model,
            chat_id=records.chat_id(self.headers, acc.chat_id_from_body, prepared.service.service_type),
            fee=records.fee_for(prepared.service, prepared.route, {"usage": usage}, prepared.body),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            service_type=prepared.service.service_type,
            latency_ms=(time.perf_counter() - prepared.started) * 1000,
            queue_ms=prepared.queued * 1000,
            events_after_done=acc.after_done,
        )


class RouterStream(ChunkStream):
    """A Router chat stream: ``x_0g_trace`` is picked up on the way and never handed to the caller.

    Where the trace sits in a stream is not documented, so every placement before ``[DONE]`` is read: its
    own chunk with empty ``choices``, a field of the usage chunk (or any chunk), or a bare
    ``{"x_0g_trace": ...}`` event. The last one seen wins. Events after ``[DONE]`` stay ignored.
    """

    def __init__(self, request: RouterRequest) -> None:
        super().__init__("the 0G Router")
        self.request = request
        self.trace: dict[str, Any] | None = None

    def _observe(self, event: sse.SSEEvent) -> None:
        if "x_0g_trace" not in event.data:
            return
        try:
            payload = loads_json(event.data)
        except ValueError:
            return
        trace = payload.get("x_0g_trace") if isinstance(payload, dict) else None
        if isinstance(trace, dict):
            self.trace = trace

    def _collect(self, events: list[sse.SSEEvent]) -> list[ChatCompletionChunk]:
        ready = super()._collect(events)
        for chunk in (*ready, self._held):
            extra = chunk.__pydantic_extra__ if chunk is not None else None
            if extra:
                extra.pop("x_0g_trace", None)
        return ready

    def _redact(self, text: str) -> str:
        return redact_router(text)

    def _provider(self) -> str | None:
        traced = self.trace.get("provider") if self.trace is not None else None
        return traced if isinstance(traced, str) else self.request.pinned

    def _who(self) -> str:
        provider = self._provider()
        return f"the 0G Router (provider {provider})" if provider else "the 0G Router"

    def _unreachable(self, cause: BaseException) -> ProviderUnavailableError:
        return unreachable_type(cause)(f"cannot reach the 0G Router: {type(cause).__name__}: {cause}")

    def data(self) -> dict[str, Any]:
        """The equivalent of a non-streamed body, for the record: id, model, usage and the trace."""
        acc = self.accumulator
        data: dict[str, Any] = {
            "id": acc.chat_id_from_body,
            "model": acc.model or self.request.model,
            "usage": acc.usage.model_dump() if acc.usage is not None else {},
        }
        if self.trace is not None:
            data["x_0g_trace"] = self.trace
        return data
