"""A provider whose ``/unsettledfee`` fails is not taken to owe nothing: funding counts our own tally of its fees
(like the SDK's cached fee), so the sub-account is topped up before the provider refuses for lack of balance."""

from __future__ import annotations

import pytest

from zerog_compute import FundingPolicy, ZeroG

from .conftest import Hostile
from .hostile import CHAT, answer, completion, honest

G = 10**18
MESSAGES = [{"role": "user", "content": "hi"}]
UNSETTLED = "/v1/user/"
HALF_A_0G = completion(prompt_tokens=5 * 10**6)
"""5M prompt tokens at the hostile provider's 10**11 neuron per token: 0.5 0G a reply."""


@pytest.mark.parametrize("status", [500, 404])
def test_a_failed_unsettled_fee_falls_back_to_the_local_tally(hostile: Hostile, status: int) -> None:
    hostile.server.script(UNSETTLED, answer(status, b'{"error":"unavailable"}'))
    hostile.server.script(CHAT, honest(HALF_A_0G))
    policy = FundingPolicy.of(min_balance="2", target_balance="3")
    with ZeroG(private_key=hostile.private_key, network=hostile.network, verification="off", funding=policy) as zg:
        first = zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)  # 2 0G usable: no top-up
        assert zg.funding.transfers == [] and first.zerog is not None and first.zerog.fee > G // 2
        zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
        # ~0.5 0G billed and not settled: the estimate is ~1.5 0G, so a top-up to 3 (was: read as 0 owed, an
        # estimate of 2 0G, no transfer, and a provider about to refuse)
        assert [event.amount for event in zg.funding.transfers] == [G + first.zerog.fee]
