"""A lying provider cannot steer auto-funding: implausible fees are clamped, a top-up that changes nothing opens the
provider's funding breaker, and the default budget bounds what any provider can make the policy move."""

from __future__ import annotations

import json

import pytest

from zerog_compute import (
    BudgetExhaustedError,
    ConfigurationError,
    FundingEvent,
    FundingHaltedError,
    FundingPolicy,
    InsufficientBalanceError,
    ZeroG,
)
from zerog_compute.funding import DEFAULT_BUDGET, plausible_unsettled

from .conftest import Hostile
from .hostile import CHAT, answer, completion, computed, honest

G = 10**18
MESSAGES = [{"role": "user", "content": "hi"}]
UNSETTLED = "/v1/user/"
LIE = json.dumps({"unsettledFee": 10**24}).encode()
REFUSAL = json.dumps({"error": "insufficient balance"}).encode()
EXPENSIVE = completion(prompt_tokens=10**8)
"""A reply claiming 10**8 prompt tokens: 10 0G at the hostile provider's price, so every request re-checks."""


def client(hostile: Hostile, events: list[FundingEvent], **options: object) -> ZeroG:
    hooks = {name: events.append for name in ("after_fund", "on_anomaly", "on_breaker_open", "on_budget_exhausted")}
    policy = FundingPolicy.of(min_balance="2", target_balance="3", **{**hooks, **options})  # type: ignore[arg-type]
    return ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off", funding=policy)


def kinds(events: list[FundingEvent]) -> list[str]:
    return [event.kind for event in events]


def test_a_lying_unsettled_fee_moves_one_bounded_transfer(hostile: Hostile) -> None:
    """Was: every request moved another max_per_transfer (6 requests, 30 0G)."""
    hostile.server.script(UNSETTLED, honest(LIE))
    events: list[FundingEvent] = []
    with client(hostile, events) as zg:
        before = zg.ledger.get().available
        for _ in range(6):
            assert zg.chat.completions.create(messages=MESSAGES, provider=hostile.address).choices
        moved = before - zg.ledger.get().available
        assert [event.amount for event in zg.funding.transfers] == [3 * G] and moved == 3 * G
        assert kinds(events) == ["anomaly", "funded"] and "10" in events[0].detail
        assert [event.kind for event in zg.funding.anomalies] == ["anomaly"]
        # fees eat the estimate: the provider still reports an impossible fee, so its breaker opens, no transfer,
        # and the request goes ahead unfunded (the provider serves it)
        hostile.server.script(CHAT, honest(EXPENSIVE))
        for _ in range(3):
            assert zg.chat.completions.create(messages=MESSAGES, provider=hostile.address).choices
        assert before - zg.ledger.get().available == 3 * G
        assert kinds(events).count("breaker_open") == 1 and kinds(events).count("funded") == 1
        assert hostile.address.lower() in zg.funding.halted


def test_insufficient_balance_answers_move_one_bounded_transfer_then_halt(hostile: Hostile) -> None:
    """Was: 3 failed requests moved 30 0G (the inline check plus the forced reconcile after each failure)."""
    hostile.server.script(UNSETTLED, honest(LIE))
    hostile.server.script(CHAT, answer(400, REFUSAL))
    events: list[FundingEvent] = []
    with client(hostile, events) as zg:
        before = zg.ledger.get().available
        for _ in range(3):
            with pytest.raises(FundingHaltedError) as caught:
                zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
            assert isinstance(caught.value, InsufficientBalanceError)  # pools fail over, old handlers still catch it
            assert caught.value.provider == hostile.address and "served no request" in caught.value.reason
            assert "reset_breaker" in str(caught.value)
        assert before - zg.ledger.get().available == 3 * G  # one transfer of at most max_per_transfer
        assert kinds(events).count("funded") == 1 and kinds(events).count("breaker_open") == 1
        [opened] = [event for event in events if event.kind == "breaker_open"]
        assert opened.provider == hostile.address and "served no request" in opened.detail

        zg.funding.reset_breaker(hostile.address)  # manual reset: one more top-up, then halted again
        with pytest.raises(FundingHaltedError):
            zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
        assert before - zg.ledger.get().available == 6 * G
        assert kinds(events).count("funded") == 2 and kinds(events).count("breaker_open") == 2


def test_the_breaker_closes_after_its_cool_down(hostile: Hostile) -> None:
    hostile.server.script(UNSETTLED, honest(LIE))
    hostile.server.script(CHAT, answer(400, REFUSAL))
    events: list[FundingEvent] = []
    with client(hostile, events, breaker_cooldown=0) as zg:
        for _ in range(2):  # each round: one top-up, the refusal opens the breaker, the cool-down closes it
            with pytest.raises(FundingHaltedError):
                zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
        assert kinds(events).count("funded") == 2 and kinds(events).count("breaker_open") == 2


def test_the_default_budget_stops_a_drain_the_breaker_cannot_see(hostile: Hostile) -> None:
    """A provider that serves every request, bills 10 0G a reply and reports exactly the sub-account's balance as
    unsettled (plausible, so no anomaly): only the budget stands between it and the ledger."""
    with ZeroG(private_key=hostile.private_key, network=hostile.network) as reader:
        reader.ledger.deposit("30")

        def balance_as_fee() -> bytes:
            account = reader.ledger.sub_account(hostile.address)
            return json.dumps({"unsettledFee": account.usable if account else 0}).encode()

        hostile.server.script(UNSETTLED, computed(balance_as_fee))
        hostile.server.script(CHAT, honest(EXPENSIVE))
        events: list[FundingEvent] = []
        with client(hostile, events) as zg:
            assert zg.funding.policy is not None and zg.funding.policy.budget == DEFAULT_BUDGET
            before = zg.ledger.get().available
            with pytest.raises(BudgetExhaustedError) as caught:
                for _ in range(10):
                    zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
            moved = before - zg.ledger.get().available
        assert moved == 9 * G <= DEFAULT_BUDGET  # three top-ups of 3 0G; a fourth would pass 10 0G
        assert kinds(events) == ["funded", "funded", "funded", "budget_exhausted"]
        message = str(caught.value)
        assert "budget of 10 0G" in message and "9 0G" in message and "unlimited_budget=True" in message


def test_reported_fees_are_clamped_to_the_balance() -> None:
    assert plausible_unsettled(10**24, 5 * G) == 5 * G
    assert plausible_unsettled(-(10**20), 5 * G) == 0
    assert plausible_unsettled(None, 5 * G) == 0
    assert plausible_unsettled(G, 5 * G) == G
    assert plausible_unsettled(G, -1) == 0


def test_the_budget_is_finite_unless_asked_for() -> None:
    assert FundingPolicy().budget == FundingPolicy.of().budget == DEFAULT_BUDGET == 10 * G
    with pytest.raises(ConfigurationError, match="unlimited_budget=True"):
        FundingPolicy.of(budget=None)
    with pytest.raises(ConfigurationError, match="unlimited_budget=True"):
        FundingPolicy(budget=None)
    assert FundingPolicy.of(unlimited_budget=True).budget is None
    assert FundingPolicy(unlimited_budget=True).budget is None
    with pytest.raises(ConfigurationError, match="one or the other"):
        FundingPolicy.of(budget="5", unlimited_budget=True)
    with pytest.raises(ConfigurationError, match="breaker_cooldown"):
        FundingPolicy.of(breaker_cooldown=-1)
