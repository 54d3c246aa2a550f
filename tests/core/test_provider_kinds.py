"""The kinds of provider real networks have, through zerog-compute: a broker that rewrites requests, a model in
a separate TEE, a multi-model catalog. Honest ones are ``verified`` under ``enforce``; tampering is refused."""

from __future__ import annotations

import pytest

from zerog_compute import Verdict, ZeroG
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
KINDS = ("rewriter", "separated", "multi")


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], list(KINDS))
    return devnet


def enforced(net: Devnet) -> ZeroG:
    return ZeroG(private_key=net.users[0].private_key, network=devnet_network(net), verification="enforce")


@pytest.mark.parametrize("name", KINDS)
def test_honest_kinds_are_verified_plain_and_streamed(funded: Devnet, name: str) -> None:
    with enforced(funded) as zg:
        reply = zg.chat.completions.create(provider=provider(funded, name), messages=ASK, max_tokens=64)
        chunks = list(zg.chat.completions.create(provider=provider(funded, name), messages=ASK, stream=True))
    assert reply.choices[0].message.content == "2 + 3 = 5"
    for record in (reply.zerog, chunks[-1].zerog):
        assert record is not None and record.verification is not None
        result = record.verification
        assert result.verdict is Verdict.verified and result.response_bound is True
        assert result.request_bound is (name != "rewriter")


def test_a_rewritten_request_is_verified_with_the_note(funded: Devnet) -> None:
    with enforced(funded) as zg:
        reply = zg.chat.completions.create(provider=provider(funded, "rewriter"), messages=ASK, max_tokens=64, user="u")
    assert reply.zerog is not None and reply.zerog.verification is not None
    result = reply.zerog.verification
    assert (result.request_bound, result.response_bound, result.content_bound) == (False, True, False)
    assert "rewrote the request" in result.detail


def test_a_separated_provider_is_found_by_completion_id_and_signed_by_its_model_tee(funded: Devnet) -> None:
    with enforced(funded) as zg:
        service = zg.services.get(provider(funded, "separated"))
        reply = zg.chat.completions.create(provider=service.provider, messages=ASK)
    assert reply.zerog is not None and reply.zerog.verification is not None
    assert reply.zerog.chat_id == reply.id  # no ZG-Res-Key: the completion id is the chat id
    target = service.info["TargetTeeAddress"]
    assert service.info["TargetSeparated"] is True and target.lower() != service.tee_signer_address.lower()
    assert reply.zerog.verification.recovered_signer == reply.zerog.verification.expected_signer == target


@pytest.mark.parametrize(
    ("fault", "verdict"),
    [("wrong_signature", Verdict.invalid_signature), ("sign_other_content", Verdict.content_mismatch)],
)
@pytest.mark.parametrize("name", KINDS)
def test_tampering_by_each_kind_is_refused(funded: Devnet, name: str, fault: str, verdict: Verdict) -> None:
    funded.provider(name).faults.set(**{fault: True})
    with ZeroG(private_key=funded.users[0].private_key, network=devnet_network(funded)) as zg:
        reply = zg.chat.completions.create(provider=provider(funded, name), messages=ASK)
        assert reply.zerog is not None
        assert reply.zerog.verdict(timeout=30).verdict is verdict


def test_multi_model_catalog_discovery_and_requests(funded: Devnet) -> None:
    multi = funded.provider("multi")
    extra = multi.runtime.config.extra_models[0]
    with enforced(funded) as zg:
        assert [s.provider for s in zg.services.list(model=extra)] == [multi.info.address]
        assert multi.info.address in [s.provider for s in zg.services.list(model=multi.info.model)]
        assert multi.info.address not in [s.provider for s in zg.services.list(model="zerog-devnet/scripted-chat")]
        assert zg.services.get(multi.info.address).multi_model
        assert [m.id for m in zg.services.models(multi.info.address)] == list(multi.runtime.config.catalog)
        reply = zg.chat.completions.create(provider=multi.info.address, model=extra, messages=ASK)
        chunks = list(zg.chat.completions.create(provider=multi.info.address, model=extra, messages=ASK, stream=True))
    assert reply.model == extra and reply.zerog is not None and reply.zerog.model == extra
    assert reply.zerog.verification is not None and reply.zerog.verification.verdict is Verdict.verified
    assert chunks[-1].zerog is not None and chunks[-1].zerog.verification is not None
    assert chunks[-1].zerog.verification.verdict is Verdict.verified
