"""Fixtures for every test: zerog-compute's per-wallet state never leaks from one test into the next."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from zerog_compute import forget_wallet_states


@pytest.fixture(autouse=True)
def fresh_wallet_states() -> Iterator[None]:
    """Clients of one wallet share its state in a process; the devnet's chain goes back to a snapshot after each
    test, so the nonces, tallies and tokens of one test are stale in the next."""
    yield
    forget_wallet_states()


@pytest.fixture(autouse=True, scope="session")
def private_usage_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The usage ledger is on by default (``~/.zerog/usage.db``): tests, and the processes they start, write to a
    temporary file instead (a test that checks the ledger passes its own ``usage=``)."""
    before = os.environ.get("ZG_USAGE")
    os.environ["ZG_USAGE"] = f"sqlite://{tmp_path_factory.mktemp('usage') / 'usage.db'}"
    yield
    if before is None:
        os.environ.pop("ZG_USAGE", None)
    else:
        os.environ["ZG_USAGE"] = before
