"""Writing usage records off the request path: a bounded queue emptied in batches by a background thread.

A request only appends to an in-memory list (no I/O, no waiting). A daemon thread sends what has gathered
:data:`WRITE_DELAY_S` after the first item, in one transaction. The queue is bounded: a writer that fell
:data:`MAX_QUEUE` items behind makes the next ``add`` send the batch itself (back-pressure, never a lost
record). :meth:`UsageWriter.flush` / :meth:`UsageWriter.close` and interpreter exit send what is left. A
forked child drops what it inherited (its parent sends those).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from .._write_queue import WriteQueue
from .store import Write

log = logging.getLogger("zerog_compute.usage")

WRITE_DELAY_S = 0.05
"""How long the writer gathers items after the first one before sending them together."""
MAX_QUEUE = 10_000
"""Items queued at most; the request that finds the queue full sends it (back-pressure)."""
MAX_RETAINED = 100_000
"""Items kept for a retry while the store keeps failing; beyond that the oldest are dropped (logged)."""


class UsageWriter:
    """Queue of usage writes for ``send`` (a store's ``write``); thread-safe, loop-agnostic."""

    def __init__(
        self, send: Callable[[Sequence[Write]], None], *, delay: float = WRITE_DELAY_S, max_queue: int = MAX_QUEUE
    ) -> None:
        self._send = send
        self._sending = threading.Lock()  # one batch on its way at a time: writes stay in order
        self.queue: WriteQueue[Write] = WriteQueue(
            self.flush, delay=delay, name="zerog-usage-writer", max_queue=max_queue
        )

    def add(self, item: Write) -> None:
        """Queue ``item``: it reaches the store within about :data:`WRITE_DELAY_S` (no I/O here)."""
        self.queue.add(item)

    def pending(self) -> int:
        """Items queued and not yet sent."""
        return len(self.queue)

    def flush(self) -> None:
        """Send everything queued now; a failure is logged and the items are kept for the next try."""
        with self._sending:
            batch = self.queue.drain()
            if not batch:
                return
            try:
                self._send(batch)
            except Exception:
                log.warning("writing %d usage records failed; they stay queued", len(batch), exc_info=True)
                dropped = self.queue.requeue(batch, keep=MAX_RETAINED)
                if dropped:
                    log.error("the usage store keeps failing: %d oldest records dropped", dropped)

    def close(self) -> None:
        """Stop the thread and send what is queued."""
        self.queue.close()
