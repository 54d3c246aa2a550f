"""Writes nobody waits for, queued in memory and sent in batches off the request path.

One class for every such queue (the shared state's slot releases and fees, the usage ledger's records): a
request appends (no I/O); a daemon thread calls ``flush`` ``delay`` seconds after the first item was queued, so
a burst leaves as one batch; ``close`` and interpreter exit flush what is left; a bounded queue makes the ``add``
that fills it flush in the caller's thread (back-pressure, nothing dropped); a forked child drops the queue it
inherited (its parent sends those). What a flush does, and what happens when it fails, is the owner's choice:
``flush`` takes the items with :meth:`WriteQueue.drain` and may :meth:`~WriteQueue.requeue` them.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("zerog_compute.writes")

W = TypeVar("W")


class WriteQueue(Generic[W]):
    """A thread-safe, event-loop-agnostic queue of ``W`` whose owner sends it with ``flush``."""

    def __init__(self, flush: Callable[[], None], *, delay: float, name: str, max_queue: int | None = None) -> None:
        self._flush = flush
        self._delay = delay
        self._name = name
        self._max = max_queue
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: list[W] = []
        self._wake = threading.Condition(threading.Lock())
        self._closed = False
        self._thread: threading.Thread | None = None

    def _here(self) -> None:
        if self._pid != os.getpid():
            self._reset()

    def add(self, item: W) -> None:
        """Queue ``item``; it is sent within ``delay`` seconds, or at once when it fills a bounded queue."""
        self._here()
        with self._wake:
            self._queue.append(item)
            full = self._max is not None and len(self._queue) >= self._max
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if len(self._queue) == 1:
                self._wake.notify()  # the flusher starts counting down
        if full:
            self.send()

    def drain(self) -> list[W]:
        """The queued items, oldest first; sending them is now the caller's job."""
        self._here()
        with self._wake:
            queued, self._queue = self._queue, []
            return queued

    def requeue(self, items: list[W], *, keep: int | None = None) -> int:
        """Put back items that were not sent, in front; beyond ``keep`` items the oldest go. Returns how many went."""
        with self._wake:
            self._queue[:0] = items
            dropped = max(0, len(self._queue) - keep) if keep is not None else 0
            del self._queue[:dropped]
            return dropped

    def queued(self) -> list[W]:
        """A copy of the queue (to count queued amounts into a read that does not send them)."""
        self._here()
        with self._wake:
            return list(self._queue)

    def __len__(self) -> int:
        return len(self._queue) if self._pid == os.getpid() else 0

    def __bool__(self) -> bool:
        return len(self) > 0

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
            self._gather()
            self.send()

    def _gather(self) -> None:
        """Let a burst gather into one batch: wait ``delay`` (``close`` ends the wait at once)."""
        deadline = time.monotonic() + self._delay
        with self._wake:
            while not self._closed and (left := deadline - time.monotonic()) > 0:
                self._wake.wait(left)

    def send(self) -> None:
        """Flush now when anything is queued; a failure is logged, never raised."""
        if not self:
            return
        try:
            self._flush()
        except Exception:  # the owner's store is briefly unreachable: its flush decides what is kept
            log.warning("%s: sending queued writes failed", self._name, exc_info=True)

    def close(self) -> None:
        """Stop the flusher thread and send what is queued."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self.send()


_LIVE: weakref.WeakSet[WriteQueue[Any]] = weakref.WeakSet()


@atexit.register
def _send_every_queue() -> None:
    for queue in list(_LIVE):
        queue.send()
