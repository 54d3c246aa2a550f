"""The client's fee for a transcription is the broker's (compared with the devnet broker's billing code)."""

from __future__ import annotations

from typing import Any

import pytest

from zerog_compute.records import fee_for
from zerog_compute.services import Service
from zerog_devnet.broker.billing import Prices, transcription_fee

SPEECH = Service(
    provider="0x" + "11" * 20,
    service_type="speech-to-text",
    url="http://127.0.0.1:1",
    input_price=10**13,
    output_price=3 * 10**11,
    updated_at=0,
    model="whisper",
    verifiability="TeeML",
    additional_info="{}",
    tee_signer_address="0x" + "22" * 20,
    tee_signer_acknowledged=True,
)


@pytest.mark.parametrize(
    "usage",
    [
        {"type": "duration", "seconds": 2},
        {"seconds": 2.5},  # whisper without a type: billed by seconds like the SDK and the broker
        {"seconds": 7.49},
        {"type": "tokens", "input_tokens": 12, "output_tokens": 3, "seconds": 9},
        {"input_tokens": 5, "output_tokens": 1},
        {"type": "duration", "seconds": 10**9},
    ],
)
def test_transcription_fee_matches_the_broker(usage: dict[str, Any]) -> None:
    billed = transcription_fee(usage, "some words", Prices(SPEECH.input_price, SPEECH.output_price))
    assert fee_for(SPEECH, "/audio/transcriptions", {"usage": usage, "text": "some words"}, b"") == billed.total


def test_seconds_without_a_type_are_not_free() -> None:
    assert fee_for(SPEECH, "/audio/transcriptions", {"usage": {"seconds": 3}}, b"") == 3 * SPEECH.input_price


def test_verbose_json_duration_is_billed_by_seconds() -> None:
    assert fee_for(SPEECH, "/audio/transcriptions", {"duration": 4.2, "text": "x"}, b"") == 4 * SPEECH.input_price
