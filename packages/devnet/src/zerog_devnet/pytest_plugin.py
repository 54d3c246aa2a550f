"""pytest fixtures for the devnet (registered through the ``pytest11`` entry point).

* ``devnet_session`` — one :class:`Devnet` per test session (settlement runs only on demand).
* ``devnet`` — the same network, wrapped in an EVM snapshot that is reverted after each test, with
  the providers' per-user state and faults reset, so tests stay independent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .network import Devnet

SESSION_SETTLE_INTERVAL = 3600.0


@pytest.fixture(scope="session")
def devnet_session() -> Iterator[Devnet]:
    """A devnet shared by the whole test session."""
    net = Devnet.start(settle_interval=SESSION_SETTLE_INTERVAL)
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture
def devnet(devnet_session: Devnet) -> Iterator[Devnet]:
    """The session devnet, reverted to a snapshot after the test."""
    snapshot = devnet_session.snapshot()
    try:
        yield devnet_session
    finally:
        devnet_session.revert(snapshot)
