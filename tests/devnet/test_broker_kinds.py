"""Pure logic of the new provider kinds: the production rewrite, the manual clock and the settlement timer."""

from __future__ import annotations

import pytest

from zerog_devnet import ConfigError, ProviderSpec
from zerog_devnet.broker.rewrite import INJECTED_FIELDS, production_rewrite
from zerog_devnet.broker.timing import ManualClock, SettlementTimer


def test_production_rewrite_does_what_brokers_do() -> None:
    request = {"messages": [], "stream": True, "max_tokens": 9, "user": "u", "metadata": {}, "store": True}
    forwarded = production_rewrite(request, model="m")
    assert forwarded == {
        "messages": [],
        "stream": True,
        "model": "m",
        "max_completion_tokens": 9,
        "stream_options": {"include_usage": True},
        **INJECTED_FIELDS,
    }
    assert "user" in request and "max_tokens" in request  # the client's request is left alone


def test_production_rewrite_keeps_what_the_client_chose() -> None:
    request = {"model": "x", "max_tokens": 1, "max_completion_tokens": 2, "stream_options": {"include_usage": False}}
    forwarded = production_rewrite(request, model="m")
    assert forwarded["model"] == "x" and forwarded["max_tokens"] == 1 and forwarded["max_completion_tokens"] == 2
    assert forwarded["stream_options"] == {"include_usage": False}  # not a stream: untouched


def test_the_settlement_timer_fires_once_per_due_period() -> None:
    clock = ManualClock()
    timer = SettlementTimer(clock, 300)
    clock.advance(299)
    assert not timer.due()
    clock.advance(1)
    assert timer.due() and not timer.due()
    clock.advance(1000)  # three periods missed: one round, like a ticker
    assert timer.due() and not timer.due()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


@pytest.mark.parametrize(
    "spec",
    [
        ProviderSpec("x", service_type="embedding", model="e", separated=True),
        ProviderSpec("x", extra_models=("zerog-devnet/scripted-chat",)),
        ProviderSpec("x", extra_models=("a", "a")),
    ],
)
def test_kind_options_are_validated(spec: ProviderSpec) -> None:
    with pytest.raises(ConfigError):
        spec.validate()
