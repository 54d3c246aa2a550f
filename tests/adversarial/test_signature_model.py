"""The signature URL keeps the SDK's rule: ``?model=`` is the service's on-chain default model, whatever model a
multi-model provider was asked for (the broker ignores it, except to route to a separated model server)."""

from __future__ import annotations

import hashlib

from zerog_compute import Verdict, ZeroG

from .conftest import Hostile
from .hostile import SIGNATURE, completion, signed


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_signature_url_names_the_on_chain_model(hostile: Hostile) -> None:
    hostile.server.script(SIGNATURE, signed(hostile.server, hostile.tee_key, lambda r: f"{sha(r)}:{sha(completion())}"))
    with ZeroG(private_key=hostile.private_key, network=hostile.network, verification="enforce") as zg:
        reply = zg.chat.completions.create(
            provider=hostile.address, model="zerog-devnet/another-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.zerog is not None and reply.zerog.verification is not None
    assert reply.zerog.verification.verdict is Verdict.verified
    assert b'"model":"zerog-devnet/another-model"' in hostile.server.last_body("/v1/proxy/chat/completions")
    [fetched] = [path for path in hostile.server.requests if path.startswith(SIGNATURE)]
    assert fetched.endswith(f"?model={hostile.model}")
