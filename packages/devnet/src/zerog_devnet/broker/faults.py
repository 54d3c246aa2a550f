"""Fault injection for one devnet provider, switchable at run time.

Set through Python (``net.provider("chat-a").faults.set(hang=True)``) or over HTTP on the
provider's loopback admin route ``PUT /admin/faults`` with the same field names as JSON.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class FaultState:
    """What the provider does wrong. All off by default."""

    latency_ms: float = 0.0
    """Delay added before every billed response."""
    hang: bool = False
    """Never answer billed requests (until the fault is cleared or the client gives up)."""
    http_status: int = 0
    """Answer billed requests with this 5xx status (no billing, no signature)."""
    rate_limit_storm: bool = False
    """Answer every billed request with the broker's per-user 429."""
    drop_connection: bool = False
    """Close the TCP connection without an HTTP response."""
    stream_cut_after: int = -1
    """Cut streamed responses after this many SSE data lines (-1 = never)."""
    wrong_signature: bool = False
    """Sign responses with a key that is not the registered TEE signer."""
    sign_other_content: bool = False
    """Sign with the right key, but over bytes that differ from what was sent."""
    missing_res_key: bool = False
    """Leave out the ZG-Res-Key header (and the signature cannot be found by body id)."""
    overcharge: int = 0
    """Settle this many neuron more than the user's rows billed, in every settlement (a dishonest provider)."""


class Faults:
    """Thread-safe holder of a :class:`FaultState`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = FaultState()

    @property
    def state(self) -> FaultState:
        with self._lock:
            return FaultState(**asdict(self._state))

    def set(self, **changes: Any) -> FaultState:
        """Change some faults; unknown names raise ``ValueError``."""
        known = {f.name: f.type for f in fields(FaultState)}
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(known)}")
        with self._lock:
            current = asdict(self._state)
            current.update(changes)
            self._state = FaultState(**current)
            return FaultState(**current)

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._state = FaultState()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.state)
