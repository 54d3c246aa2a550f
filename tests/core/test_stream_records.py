"""A provider cannot put its own ``zerog`` record on streamed chunks: only the client writes records."""

from __future__ import annotations

import json

from zerog_compute.direct import Prepared
from zerog_compute.services import Service
from zerog_compute.stream import StreamState

PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
FAKE = {"provider": "0x0000000000000000000000000000000000000001", "model": "x", "chat_id": "fake", "fee": 0}


def service() -> Service:
    return Service(
        provider=PROVIDER,
        service_type="chatbot",
        url="http://127.0.0.1:1",
        input_price=2,
        output_price=3,
        updated_at=0,
        model="m",
        verifiability="TeeML",
        additional_info="{}",
        tee_signer_address=PROVIDER,
        tee_signer_acknowledged=True,
    )


def sse(*events: dict[str, object]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def test_smuggled_records_are_dropped() -> None:
    state = StreamState(Prepared(service(), "/chat/completions", "http://x", {}, b"{}", "m"))
    state.start({"ZG-Res-Key": "real-id"})
    body = sse(
        {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}], "zerog": FAKE},
        {"id": "c", "choices": [{"index": 0, "delta": {"content": " there"}}], "zerog": FAKE},
        {
            "id": "c",
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            "zerog": FAKE,
        },
    )
    chunks = state.feed(body)
    last, record = state.finish()
    everything = chunks + last
    assert all(c.zerog is None for c in everything[:-1])
    assert everything[-1].zerog is record
    assert (record.provider, record.chat_id, record.fee) == (PROVIDER, "real-id", 5 * 2 + 2 * 3)
