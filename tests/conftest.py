"""Fixtures for every test: zerog-compute's per-wallet state never leaks from one test into the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zerog_compute import forget_wallet_states


@pytest.fixture(autouse=True)
def fresh_wallet_states() -> Iterator[None]:
    """Clients of one wallet share its state in a process; the devnet's chain goes back to a snapshot after each
    test, so the nonces, tallies and tokens of one test are stale in the next."""
    yield
    forget_wallet_states()
