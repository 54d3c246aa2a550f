"""The backend seam: what a client asks of Direct mode and of the Router, in one shape.

A client chooses its backend once, when it is built: :class:`~zerog_compute.direct.DirectBackend` (the
wallet signs, requests go straight to providers) or :class:`~zerog_compute.router.RouterBackend` (the
hosted 0G Router). Both turn a :class:`Call` into flows — :meth:`Backend.complete` returns a
:class:`Completed`, :meth:`Backend.stream` emits chunks — and each applies the verification policy in
exactly one place, so the client shells above never branch on the backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ._io import Flow
from .errors import ConfigurationError
from .payloads import Files
from .types import ZeroGRecord

if TYPE_CHECKING:
    from .failover import PoolState

BackendName = Literal["direct", "router"]


@dataclass(frozen=True)
class Call:
    """One request as the caller asked for it: route, payload, and who should serve it."""

    route: str
    payload: dict[str, Any] = field(repr=False)
    model: str | None = None
    provider: str | None = None
    files: Files | None = field(default=None, repr=False)
    pool: PoolState | None = None

    def require_provider(self) -> str:
        """The provider a single-provider call goes to."""
        if not self.provider:
            raise ConfigurationError("pass provider=... (or use zg.pool(...) to let the client choose providers)")
        return self.provider


@dataclass
class Completed:
    """A finished non-streamed request: the raw body, its JSON object and the ``zerog`` record."""

    content: bytes = field(repr=False)
    data: dict[str, Any] = field(repr=False)
    record: ZeroGRecord


@dataclass
class Progress:
    """How many chunks a stream has handed to the caller (a pool fails over only before the first)."""

    emitted: int = 0
    latency_ms: float | None = None
    """The provider's latency, once the stream has finished (for the pool's ``latency`` strategy)."""


class Backend(Protocol):
    """What a client needs from a backend."""

    name: BackendName

    def complete(self, call: Call) -> Flow[Completed]:
        """Send ``call`` and return the verified (per policy) response."""
        ...

    def stream(self, call: Call) -> Flow[None]:
        """Send a streamed ``call``, emitting chunks; the last one carries the record."""
        ...
