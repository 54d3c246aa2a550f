"""Waiting that works across threads and event loops at once, without polling.

One wallet's state is shared by every client of it in the process: sync clients on any thread and
async clients on any event loop. ``threading`` primitives would block an event loop; ``asyncio``
primitives belong to one loop. These two do both: a waiter is either a ``threading.Event`` (sync) or
a future of the waiting task's own loop, woken with ``call_soon_threadsafe``.

* :class:`Gate` — "something changed": waiters sleep until :meth:`Gate.notify_all` or a timeout;
  a version number makes a wake-up that happens between a failed try and the wait impossible to miss.
* :class:`SharedLock` — a re-entrant lock whose owner is a thread (sync) or a task (async); ownership
  is handed to the next waiter in order on release.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field

Owner = tuple[str, int]


@dataclass
class _Waiter:
    """A sync waiter (``event``) or an async one (``loop`` + ``future``)."""

    event: threading.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None
    owner: Owner | None = None

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and self.future is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _async_waiter(owner: Owner | None = None) -> _Waiter:
    loop = asyncio.get_running_loop()
    return _Waiter(loop=loop, future=loop.create_future(), owner=owner)


class Gate:
    """A version counter with waiters: wait while the version is the one you saw."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: list[_Waiter] = []
        self.version = 0

    def notify_all(self) -> None:
        with self._lock:
            self.version += 1
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.wake()

    def _register(self, version: int, waiter: _Waiter) -> bool:
        with self._lock:
            if self.version != version:
                return False
            self._waiters.append(waiter)
            return True

    def _forget(self, waiter: _Waiter) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def wait(self, version: int, timeout: float) -> None:
        """Block until the version moves past ``version`` or ``timeout`` seconds pass."""
        waiter = _Waiter(event=threading.Event())
        if self._register(version, waiter):
            assert waiter.event is not None
            waiter.event.wait(timeout)
            self._forget(waiter)

    async def wait_async(self, version: int, timeout: float) -> None:
        """Await until the version moves past ``version`` or ``timeout`` seconds pass."""
        waiter = _async_waiter()
        if self._register(version, waiter):
            assert waiter.future is not None
            try:
                await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                self._forget(waiter)


def thread_owner() -> Owner:
    return ("thread", threading.get_ident())


def task_owner() -> Owner:
    task = asyncio.current_task()
    return ("task", id(task)) if task is not None else thread_owner()


@dataclass
class SharedLock:
    """A re-entrant lock for threads and tasks of any event loop; FIFO hand-over, no polling."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _owner: Owner | None = None
    _depth: int = 0
    _waiters: deque[_Waiter] = field(default_factory=deque, repr=False)

    def _try_take(self, owner: Owner) -> bool:
        """Take or re-enter the lock now (the internal lock is held)."""
        if self._owner is None or self._owner == owner:
            self._owner = owner
            self._depth += 1
            return True
        return False

    def acquire(self) -> None:
        """Block the calling thread until it owns the lock."""
        owner = thread_owner()
        with self._lock:
            if self._try_take(owner):
                return
            waiter = _Waiter(event=threading.Event(), owner=owner)
            self._waiters.append(waiter)
        assert waiter.event is not None
        waiter.event.wait()  # ownership was handed to us

    async def acquire_async(self) -> None:
        """Await until the current task owns the lock (cancellation while waiting leaves it consistent)."""
        owner = task_owner()
        with self._lock:
            if self._try_take(owner):
                return
            waiter = _async_waiter(owner)
            self._waiters.append(waiter)
        assert waiter.future is not None
        try:
            await asyncio.shield(waiter.future)
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise

    def _abandon(self, waiter: _Waiter) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return
            handed = self._owner == waiter.owner
        if handed:  # the lock reached us as we were cancelled: pass it on
            self.release(waiter.owner)

    def release(self, owner: Owner | None = None) -> None:
        """Release one level; at the last one, hand the lock to the next waiter."""
        with self._lock:
            if self._owner is None or (owner is not None and self._owner != owner):
                raise RuntimeError("release of a lock that is not held by the caller")
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            following = self._waiters.popleft() if self._waiters else None
            if following is not None:
                self._owner, self._depth = following.owner, 1
        if following is not None:
            following.wake()

    @property
    def locked(self) -> bool:
        with self._lock:
            return self._owner is not None

    @property
    def depth(self) -> int:
        """How many times the owner holds the lock (0: free)."""
        with self._lock:
            return self._depth

    def held_by(self, owner: Owner) -> bool:
        with self._lock:
            return self._owner == owner
