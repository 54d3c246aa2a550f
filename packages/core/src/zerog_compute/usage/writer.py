"""Writing usage records off the request path: a bounded queue emptied in batches by a background thread.

A request only appends to an in-memory list (no I/O, no waiting). A daemon thread sends what has gathered
:data:`WRITE_DELAY_S` after the first item, in one transaction. The queue is bounded: a writer that fell
:data:`MAX_QUEUE` items behind makes the next ``add`` send the batch itself (back-pressure, never a lost
record). :meth:`UsageWriter.flush` / :meth:`UsageWriter.close` and interpreter exit send what is left. A
forked child drops what it inherited (its parent sends those).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence

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
        self._delay = delay
        self._max = max_queue
        self._sending = threading.Lock()  # one batch on its way at a time: writes stay in order
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: list[Write] = []
        self._wake = threading.Condition(threading.Lock())
        self._closed = False
        self._thread: threading.Thread | None = None

    def _here(self) -> None:
        if self._pid != os.getpid():
            self._reset()

    def add(self, item: Write) -> None:
        """Queue ``item``: it reaches the store within about :data:`WRITE_DELAY_S` (no I/O here)."""
        self._here()
        with self._wake:
            self._queue.append(item)
            full = len(self._queue) >= self._max
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="zerog-usage-writer", daemon=True)
                self._thread.start()
            if len(self._queue) == 1:
                self._wake.notify()  # the writer starts counting down
        if full:
            self.flush()

    def pending(self) -> int:
        """Items queued and not yet sent."""
        with self._wake:
            return len(self._queue)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
            self._wake_after_delay()
            self.flush()

    def _wake_after_delay(self) -> None:
        """Gather a burst into one batch: wait :attr:`_delay` (close ends the wait at once)."""
        deadline = time.monotonic() + self._delay
        with self._wake:
            while not self._closed and (left := deadline - time.monotonic()) > 0:
                self._wake.wait(left)

    def flush(self) -> None:
        """Send everything queued now; a failure is logged and the items are kept for the next try."""
        self._here()
        with self._sending:
            with self._wake:
                batch, self._queue = self._queue, []
            if not batch:
                return
            try:
                self._send(batch)
            except Exception:
                log.warning("writing %d usage records failed; they stay queued", len(batch), exc_info=True)
                with self._wake:
                    self._queue[:0] = batch
                    if len(self._queue) > MAX_RETAINED:
                        dropped = len(self._queue) - MAX_RETAINED
                        del self._queue[:dropped]
                        log.error("the usage store keeps failing: %d oldest records dropped", dropped)

    def close(self) -> None:
        """Stop the thread and send what is queued."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self.flush()


_LIVE: weakref.WeakSet[UsageWriter] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for writer in list(_LIVE):
        writer.flush()
