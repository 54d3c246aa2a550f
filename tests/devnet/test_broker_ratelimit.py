"""Per-user RPM bucket, concurrency slots and the global cap (provider-protocol §6), on a fake clock."""

from __future__ import annotations

import math
import threading

from zerog_devnet.broker.ratelimit import GLOBAL_CAP_BODY, GlobalCap, TokenBucket, UserLimits

ALICE = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
BOB = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
RPM_BODY = {
    "error": {
        "type": "rate_limit_error",
        "message": "Rate limit exceeded. Please slow down your request rate (limit: 30 requests/min).",
    }
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def admit_and_release(limits: UserLimits, user: str) -> bool:
    decision = limits.admit(user)
    if decision.slot is not None:
        decision.slot.release()
    return decision.allowed


# ---------------------------------------------------------------------------------------------------------
# token bucket


def test_bucket_starts_full_and_refills() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.5, 5, clock)
    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    assert bucket.seconds_until_token() == 2.0
    clock.now += 1
    assert not bucket.try_acquire()
    assert bucket.seconds_until_token() == 1.0
    clock.now += 1
    assert bucket.try_acquire()
    clock.now += 1000
    assert bucket.tokens() == 5.0
    assert bucket.seconds_until_token() == 0.0


def test_zero_rate_never_refills() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0, 1, clock)
    assert bucket.try_acquire()
    clock.now += 10**6
    assert not bucket.try_acquire()
    assert math.isinf(bucket.seconds_until_token())


# ---------------------------------------------------------------------------------------------------------
# per-user RPM


def test_burst_of_5_then_429_then_refill_after_2_seconds() -> None:
    clock = FakeClock()
    limits = UserLimits(clock=clock)
    assert [admit_and_release(limits, ALICE) for _ in range(5)] == [True] * 5
    rejected = limits.admit(ALICE)
    assert (rejected.allowed, rejected.status, rejected.body, rejected.slot) == (False, 429, RPM_BODY, None)
    assert rejected.headers == {}
    clock.now += 1.999
    assert not admit_and_release(limits, ALICE)
    clock.now += 0.001
    assert admit_and_release(limits, ALICE)
    assert not admit_and_release(limits, ALICE)


def test_rate_limit_headers_reflect_the_bucket_after_this_request() -> None:
    clock = FakeClock()
    limits = UserLimits(clock=clock)
    decision = limits.admit(ALICE)
    assert decision.headers == {
        "x-ratelimit-limit-requests": "30",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-reset-requests": "0s",
    }
    for _ in range(4):
        limits.admit(ALICE)
    clock.now += 1.5
    assert limits.admit(BOB).headers["x-ratelimit-remaining-requests"] == "4"


def test_anthropic_body() -> None:
    limits = UserLimits(burst=1, clock=FakeClock())
    admit_and_release(limits, ALICE)
    assert limits.admit(ALICE, anthropic=True).body == {"type": "error", **RPM_BODY}


def test_users_are_isolated_and_keys_are_case_insensitive() -> None:
    limits = UserLimits(clock=FakeClock())
    for _ in range(5):
        assert admit_and_release(limits, ALICE)
    assert not admit_and_release(limits, ALICE.lower())
    assert not admit_and_release(limits, ALICE.upper().replace("0X", "0x"))
    assert admit_and_release(limits, BOB)


def test_rpm_zero_disables_the_bucket_and_headers() -> None:
    limits = UserLimits(rpm=0, clock=FakeClock())
    decisions = [limits.admit(ALICE) for _ in range(5)]
    assert all(d.allowed and d.headers == {} for d in decisions)


def test_limit_in_message_follows_rpm() -> None:
    limits = UserLimits(rpm=120, burst=1, clock=FakeClock())
    admit_and_release(limits, ALICE)
    body = limits.admit(ALICE).body
    assert body is not None
    assert body["error"]["message"].endswith("(limit: 120 requests/min).")


# ---------------------------------------------------------------------------------------------------------
# concurrency


def concurrency_body(active: int) -> dict[str, str]:
    return {
        "error": f"Too many concurrent requests. You have {active} active requests (limit: 5). "
        "Please wait for some to complete."
    }


def test_sixth_concurrent_request_is_rejected_and_release_frees_a_slot() -> None:
    limits = UserLimits(rpm=6000, burst=100, clock=FakeClock())
    held = [limits.admit(ALICE) for _ in range(5)]
    assert all(d.allowed for d in held)
    assert limits.active(ALICE) == 5
    rejected = limits.admit(ALICE.lower())
    assert (rejected.status, rejected.body) == (429, concurrency_body(5))
    assert limits.admit(BOB).allowed
    slot = held[0].slot
    assert slot is not None
    slot.release()
    slot.release()  # idempotent
    assert limits.active(ALICE) == 4
    assert limits.admit(ALICE).allowed


def test_rpm_is_checked_before_concurrency_and_a_concurrency_reject_costs_a_token() -> None:
    clock = FakeClock()
    limits = UserLimits(burst=7, clock=clock)
    held = [limits.admit(ALICE) for _ in range(5)]
    assert limits.admit(ALICE).body == concurrency_body(5)
    assert limits.admit(ALICE).body == concurrency_body(5)
    assert limits.admit(ALICE).body == RPM_BODY
    for decision in held:
        assert decision.slot is not None
        decision.slot.release()
    assert limits.admit(ALICE).body == RPM_BODY


def test_slot_as_context_manager_and_release_by_user() -> None:
    limits = UserLimits(clock=FakeClock())
    decision = limits.admit(ALICE)
    assert decision.slot is not None
    with decision.slot:
        assert limits.active(ALICE) == 1
    assert limits.active(ALICE) == 0
    limits.admit(ALICE)
    limits.release(ALICE.lower())
    assert limits.active(ALICE) == 0


def test_reset() -> None:
    limits = UserLimits(burst=1, clock=FakeClock())
    limits.admit(ALICE)
    limits.reset()
    assert limits.active(ALICE) == 0
    assert limits.admit(ALICE).allowed


def test_concurrent_admits_never_exceed_the_limit() -> None:
    limits = UserLimits(rpm=0)
    results: list[bool] = []
    lock = threading.Lock()

    def work() -> None:
        allowed = limits.admit(ALICE).allowed
        with lock:
            results.append(allowed)

    threads = [threading.Thread(target=work) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 5
    assert limits.active(ALICE) == 5


# ---------------------------------------------------------------------------------------------------------
# global cap


def test_global_cap() -> None:
    cap = GlobalCap()
    assert all(cap.try_enter() for _ in range(20))
    assert not cap.try_enter()
    assert (cap.status, cap.body) == (503, GLOBAL_CAP_BODY)
    assert GLOBAL_CAP_BODY == {"error": "Server is currently processing too many requests. Please try again later."}
    cap.exit()
    assert cap.in_flight == 19
    assert cap.try_enter()
    cap.reset()
    assert cap.in_flight == 0
    cap.exit()
    assert cap.in_flight == 0
