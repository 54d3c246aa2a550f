"""Run as a separate process by the state-store tests: one store action, then exit (or die holding it)."""

from __future__ import annotations

import os
import sys

from zerog_compute.ratelimit import RateLimit
from zerog_compute.state import open_store
from zerog_compute.state.redis import RedisStore
from zerog_compute.state.sqlite import SqliteStore


def main(url: str, action: str) -> None:
    store = RedisStore(url, lease_ttl=1.0) if url.startswith("redis") else SqliteStore(url[9:], lease_ttl=1.0)
    assert open_store(store) is store
    if action == "slot":
        assert store.buckets(1, "0xabc").take("p", RateLimit(rpm=0, max_concurrent=1)) == (0.0, None)
    elif action == "lane":
        store.outer_lock(1, "0xabc").acquire()
    sys.stdout.write("held\n")
    sys.stdout.flush()
    os._exit(0)  # a crash: no release, no clean-up


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
