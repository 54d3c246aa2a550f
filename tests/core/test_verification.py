"""Response verification (client-protocol §9.2, provider-protocol §5.2) and attestation signer checks (§11)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given, settings
from hypothesis import strategies as st

from zerog_compute.errors import VerificationError
from zerog_compute.verification import (
    AttestationReport,
    Verdict,
    VerificationResult,
    apply_policy,
    check_attestation,
    content_binding,
    evaluate,
    expected_image_text,
    expected_signer,
    expected_text,
    recover_signer,
    verifiability_problem,
)

MOCK_TEE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe512961708279b7e1a8d7d7a3c2b9e3"
MOCK_TEE_ADDRESS = "0x325744be57db298C2652c672B32Eb12875d92D83"
REQUEST = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
RESPONSE = b'{"id":"chatcmpl-x"}'
SIGNED_TEXT = (
    "798d46639491d6c18f1779ddfca7da4b672f23a4cb57d66eeae48d9b8ccb6075:"
    "4bdc167f41842940a056a9195368a5ef454bfecbb3a7ee8c247e07313dd4fbef"
)
SIGNATURE = (
    "0xce74cb87fdf174f93845cd2aa612e7be70758b902026a6f57c42d79c79b81296"
    "0d54cc11d3b9ee41ecbf06491df6778609293129b69b400c52df281e57ccde401c"
)
USER_KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
USER_ADDRESS = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c"
ABC_DEF_SIGNATURE = (
    "0x61c3fcc1a52d6a12ede1f5d5626db0a343cc34e6c1384ffbfa7193ee91e0bcf7"
    "62dbdcb32a053b080ce6adae629ca546d774d1e44b08eaa4e4dc2a5b70b1cef21b"
)
LLM_TEE = "0x" + "ab" * 20
INFO = json.dumps(
    {
        "ImageDigest": "",
        "ImageName": "",
        "TEEVerifier": "cryptopilot",
        "TargetSeparated": False,
        "TargetTeeAddress": "",
        "VerifierURL": "",
    }
)


def sign(text: str, key: str = MOCK_TEE_KEY) -> str:
    return "0x" + bytes(Account.sign_message(encode_defunct(text=text), key).signature).hex()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def service(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "provider": "0xa48f01287233509FD694a22Bf840225062E67836",
        "verifiability": "TeeML",
        "tee_signer_acknowledged": True,
        "additional_info": INFO,
        "tee_signer_address": MOCK_TEE_ADDRESS,
    }
    return fields | overrides


def info(**fields: Any) -> str:
    return json.dumps(fields)


def run(text: str = SIGNED_TEXT, signature: str = SIGNATURE, **kwargs: Any) -> VerificationResult:
    args: dict[str, Any] = {
        "service": service(),
        "chat_id": "chat-1",
        "signature_payload": {"text": text, "signature": signature, "signing_address": MOCK_TEE_ADDRESS.lower()},
        "request_body": REQUEST,
        "response_body": RESPONSE,
    }
    return evaluate(**(args | kwargs))


# ---------------------------------------------------------------------------------------------------------
# vectors


def test_eip191_vector_abc_def() -> None:
    assert recover_signer("abc:def", ABC_DEF_SIGNATURE) == USER_ADDRESS
    assert sign("abc:def", USER_KEY) == ABC_DEF_SIGNATURE


def test_provider_signing_vector() -> None:
    assert expected_text(REQUEST, RESPONSE) == SIGNED_TEXT
    assert sign(SIGNED_TEXT) == SIGNATURE
    assert recover_signer(SIGNED_TEXT, SIGNATURE) == MOCK_TEE_ADDRESS
    assert recover_signer(SIGNED_TEXT, SIGNATURE[2:]) == MOCK_TEE_ADDRESS


def test_image_text_format() -> None:
    images = [b"png-0", b"png-1"]
    assert expected_image_text(REQUEST, images) == f"{sha(REQUEST)}:{sha(b'png-0')},{sha(b'png-1')}"


# ---------------------------------------------------------------------------------------------------------
# verdicts


def test_verified_and_content_bound() -> None:
    result = run()
    assert result.verdict is Verdict.verified and result.ok
    assert result.content_bound is True and result.request_bound is True and result.response_bound is True
    assert result.recovered_signer == MOCK_TEE_ADDRESS == result.expected_signer
    assert result.signed_text == SIGNED_TEXT and result.chat_id == "chat-1"
    assert result.provider == service()["provider"]
    assert "match the request and response" in result.detail
    result.raise_for_verdict()


def test_tampered_signature_is_invalid() -> None:
    tampered = SIGNATURE[:10] + ("0" if SIGNATURE[10] != "0" else "1") + SIGNATURE[11:]
    result = run(signature=tampered)
    assert result.verdict is Verdict.invalid_signature and not result.ok
    assert result.recovered_signer is not None and result.recovered_signer != MOCK_TEE_ADDRESS
    assert result.content_bound is None
    with pytest.raises(VerificationError, match="invalid_signature") as info:
        result.raise_for_verdict()
    assert info.value.chat_id == "chat-1"


def test_tampered_text_is_invalid() -> None:
    other = expected_text(REQUEST, b'{"id":"chatcmpl-y"}')
    assert run(text=other).verdict is Verdict.invalid_signature


def test_signature_by_another_key_is_invalid() -> None:
    result = run(signature=sign(SIGNED_TEXT, USER_KEY))
    assert result.verdict is Verdict.invalid_signature
    assert result.recovered_signer == USER_ADDRESS
    assert USER_ADDRESS in result.detail


@pytest.mark.parametrize("garbage", ["", "0x", "0x1234", "not hex", "0x" + "00" * 65, "0x" + "ff" * 64 + "1b"])
def test_malformed_signature_is_invalid(garbage: str) -> None:
    result = run(signature=garbage)
    assert result.verdict is Verdict.invalid_signature
    assert "malformed signature" in result.detail


def test_right_key_over_other_response_is_content_mismatch() -> None:
    text = expected_text(REQUEST, b'{"id":"chatcmpl-other"}')
    result = run(text=text, signature=sign(text))
    assert result.verdict is Verdict.content_mismatch and not result.ok
    assert (result.request_bound, result.response_bound, result.content_bound) == (True, False, False)
    assert result.recovered_signer == MOCK_TEE_ADDRESS
    assert "response hash differs" in result.detail


def test_rewritten_request_is_verified_with_a_note() -> None:
    """Production brokers sign the request they forwarded after rewriting it: the response is still bound."""
    text = expected_text(b'{"model":"m","stream_options":{}}', RESPONSE)
    result = run(text=text, signature=sign(text))
    assert result.verdict is Verdict.verified and result.ok
    assert (result.request_bound, result.response_bound, result.content_bound) == (False, True, False)
    assert "rewrote the request" in result.detail
    apply_policy(result, "enforce")  # no VerificationError


def test_rewritten_request_with_a_wrong_response_hash_is_a_mismatch() -> None:
    text = expected_text(b'{"model":"m","stream_options":{}}', b'{"id":"chatcmpl-other"}')
    result = run(text=text, signature=sign(text))
    assert result.verdict is Verdict.content_mismatch
    assert (result.request_bound, result.response_bound) == (False, False)
    assert "neither the request hash nor the response hash" in result.detail
    with pytest.raises(VerificationError, match="content_mismatch"):
        apply_policy(result, "enforce")


def test_rewritten_request_with_an_unhashed_response_part_is_signed_unbound() -> None:
    text = f"{sha(b'another request')}:junk"
    result = run(text=text, signature=sign(text))
    assert result.verdict is Verdict.signed_unbound and result.response_bound is None and not result.ok
    assert "binds nothing checkable" in result.detail


def test_unknown_format_is_signed_unbound_not_verified() -> None:
    text = f"zg-sig-v1/e2ee-ct:{sha(b'a')}:{sha(b'b')}"
    result = run(text=text, signature=sign(text))
    assert result.verdict is Verdict.signed_unbound and result.content_bound is None and not result.ok
    assert result.recovered_signer == MOCK_TEE_ADDRESS
    assert "binds nothing of this exchange" in result.detail
    with pytest.raises(VerificationError, match="signed_unbound"):
        result.raise_for_verdict()


def test_routing_proof_checks_the_first_two_hashes() -> None:
    teetls = service(additional_info=info(ProviderType="centralized", ProviderIdentity="openai"))
    good = f"{SIGNED_TEXT}:centralized:openai:{'cd' * 32}"
    result = run(text=good, signature=sign(good), service=teetls)
    assert result.verdict is Verdict.verified and result.content_bound is True
    bad = f"{sha(REQUEST)}:{sha(b'x')}:centralized:openai:{'cd' * 32}"
    assert run(text=bad, signature=sign(bad), service=teetls).verdict is Verdict.content_mismatch


def test_image_format() -> None:
    images = [b"img-a", b"img-b"]
    text = expected_image_text(REQUEST, images)
    assert run(text=text, signature=sign(text), images=images).verdict is Verdict.verified
    result = run(text=text, signature=sign(text), images=[b"img-a", b"img-c"])
    assert result.verdict is Verdict.content_mismatch and result.response_bound is False
    without = run(text=text, signature=sign(text), service=service(service_type="text-to-image"))
    assert without.verdict is Verdict.signed_unbound and without.content_bound is None
    assert "images were not given" in without.detail
    on_a_chat_reply = run(text=text, signature=sign(text))
    assert on_a_chat_reply.verdict is Verdict.content_mismatch and on_a_chat_reply.response_bound is False


def test_image_request_falling_back_to_the_body_form() -> None:
    text = expected_text(REQUEST, RESPONSE)
    assert run(text=text, signature=sign(text), images=[b"img-a"]).content_bound is True


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"tee_signer_acknowledged": False}, "not acknowledged"),
        ({"verifiability": "TeeTLS"}, "not verifiable"),
        ({"verifiability": ""}, "not verifiable"),
        ({"additional_info": ""}, "does not exist"),
        ({"additional_info": "{oops"}, "not valid JSON"),
        ({"additional_info": "null"}, "JSON null"),
        ({"tee_signer_address": ""}, "no valid signer"),
        ({"tee_signer_address": "0x1234"}, "no valid signer"),
    ],
)
def test_not_verifiable(overrides: dict[str, Any], fragment: str) -> None:
    result = run(service=service(**overrides))
    assert result.verdict is Verdict.not_verifiable
    assert fragment in result.detail
    assert result.recovered_signer is None


def test_not_verifiable_precedence_follows_the_sdk() -> None:
    svc = service(verifiability="None", tee_signer_acknowledged=False, additional_info="")
    assert "not verifiable" in (verifiability_problem(svc) or "")
    assert "not acknowledged" in (
        verifiability_problem(service(tee_signer_acknowledged=False, additional_info="")) or ""
    )
    assert verifiability_problem(service()) is None


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"chat_id": None}, "no chat id"),
        ({"chat_id": ""}, "no chat id"),
        ({"fetch_error": "signature endpoint answered 400"}, "answered 400"),
        ({"signature_payload": None}, "no text and signature"),
        ({"signature_payload": {"text": SIGNED_TEXT}}, "no text and signature"),
        ({"signature_payload": {"text": 1, "signature": SIGNATURE}}, "no text and signature"),
    ],
)
def test_unavailable(kwargs: dict[str, Any], fragment: str) -> None:
    result = run(**kwargs)
    assert result.verdict is Verdict.unavailable
    assert fragment in result.detail


def test_missing_chat_id_is_checked_before_the_service() -> None:
    result = run(chat_id=None, service=service(tee_signer_acknowledged=False))
    assert result.verdict is Verdict.unavailable


@dataclass(frozen=True)
class ServiceRecord:
    verifiability: str
    tee_signer_acknowledged: bool
    additional_info: str
    tee_signer_address: str
    provider: str = "0x" + "99" * 20


def test_accepts_a_service_object() -> None:
    record = ServiceRecord("TeeML", True, INFO, MOCK_TEE_ADDRESS)
    result = run(service=record)
    assert result.verdict is Verdict.verified and result.provider == record.provider
    assert run(service=record, provider="0xexplicit").provider == "0xexplicit"


# ---------------------------------------------------------------------------------------------------------
# expected signer


@pytest.mark.parametrize(
    ("additional", "expected"),
    [
        (INFO, MOCK_TEE_ADDRESS),
        (info(TargetSeparated=True, TargetTeeAddress=LLM_TEE), LLM_TEE),
        (info(TargetSeparated=True, TargetTeeAddress=LLM_TEE, ProviderType="decentralized"), LLM_TEE),
        (info(TargetSeparated=True, TargetTeeAddress=LLM_TEE, ProviderType="Weird"), LLM_TEE),
        (info(TargetSeparated=True, TargetTeeAddress=LLM_TEE, ProviderType=""), LLM_TEE),
        (info(TargetSeparated=True, TargetTeeAddress=LLM_TEE, ProviderType="centralized"), MOCK_TEE_ADDRESS),
        (info(TargetSeparated="true", TargetTeeAddress=LLM_TEE), MOCK_TEE_ADDRESS),
        (info(TargetSeparated=1, TargetTeeAddress=LLM_TEE), MOCK_TEE_ADDRESS),
        (info(TargetSeparated=True, TargetTeeAddress=""), MOCK_TEE_ADDRESS),
        (info(TargetSeparated=True), MOCK_TEE_ADDRESS),
        (info(TargetSeparated=True, TargetTeeAddress="not-an-address"), None),
        ("[1, 2]", MOCK_TEE_ADDRESS),
        ("", None),
        ("{", None),
    ],
)
def test_expected_signer(additional: str, expected: str | None) -> None:
    assert expected_signer(service(additional_info=additional)) == expected


def test_separated_provider_is_verified_against_the_llm_tee() -> None:
    llm_key = "0x" + "42" * 32
    llm_address = Account.from_key(llm_key).address
    svc = service(additional_info=info(TargetSeparated=True, TargetTeeAddress=llm_address))
    assert run(service=svc, signature=sign(SIGNED_TEXT, llm_key)).verdict is Verdict.verified
    broker_signed = run(service=svc)
    assert broker_signed.verdict is Verdict.invalid_signature and broker_signed.expected_signer == llm_address


# ---------------------------------------------------------------------------------------------------------
# content_binding


def test_content_binding_cases() -> None:
    kwargs: dict[str, Any] = {"request_body": REQUEST, "response_body": RESPONSE}
    assert content_binding(SIGNED_TEXT, **kwargs) is True
    assert content_binding(SIGNED_TEXT.upper(), **kwargs) is True
    assert content_binding(expected_text(b"x", RESPONSE), **kwargs) is False
    assert content_binding(expected_text(REQUEST, b"y"), **kwargs) is False
    assert content_binding("abc:def", **kwargs) is None
    assert content_binding("", **kwargs) is None
    assert content_binding(f"{SIGNED_TEXT}:extra", **kwargs) is None
    assert content_binding(f"{sha(b'x')}:{sha(b'a')},{sha(b'b')}", **kwargs) is False
    assert content_binding(f"{sha(REQUEST)}:{sha(b'a')},{sha(b'b')}", **kwargs) is False  # a list on a chat reply
    assert content_binding(f"{sha(REQUEST)}:{sha(b'a')},{sha(b'b')}", **kwargs, images_unknown=True) is None
    assert content_binding(f"{sha(REQUEST)}:{sha(b'a')},{sha(b'b')}", **kwargs, images=[b"a", b"b"]) is True
    assert content_binding(f"{sha(REQUEST)}:{sha(b'a')}", **kwargs, images=[b"a"]) is True


# ---------------------------------------------------------------------------------------------------------
# policy


def test_apply_policy() -> None:
    bad = run(signature=sign(SIGNED_TEXT, USER_KEY))
    assert apply_policy(bad, "warn") is bad
    assert apply_policy(bad, "off").verdict is Verdict.skipped
    with pytest.raises(VerificationError):
        apply_policy(bad, "enforce")
    good = run()
    assert apply_policy(good, "enforce") is good
    for result in (VerificationResult.pending(chat_id="c"), VerificationResult.skipped(chat_id="c")):
        assert not result.ok
        result.raise_for_verdict()


# ---------------------------------------------------------------------------------------------------------
# never raise on provider data


payloads = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["text", "signature", "x"]), st.one_of(st.text(), st.integers(), st.none())),
    st.builds(lambda t, s: {"text": t, "signature": s}, st.text(), st.text(alphabet="0123456789abcdefx")),
)


@settings(max_examples=150, deadline=None)
@given(payload=payloads, chat_id=st.one_of(st.none(), st.text()), additional=st.text(max_size=60))
def test_random_payloads_only_produce_verdicts(payload: Any, chat_id: str | None, additional: str) -> None:
    svc = service(additional_info=additional or INFO)
    result = evaluate(
        service=svc, chat_id=chat_id, signature_payload=payload, request_body=REQUEST, response_body=RESPONSE
    )
    assert isinstance(result.verdict, Verdict) and result.detail


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=300), images=st.one_of(st.none(), st.lists(st.binary(max_size=8), max_size=3)))
def test_random_signed_texts_never_raise(text: str, images: list[bytes] | None) -> None:
    try:
        signature = sign(text)
    except UnicodeEncodeError:  # lone surrogates cannot be signed as UTF-8
        signature = SIGNATURE
    result = run(text=text, signature=signature, images=images)
    assert result.verdict in (Verdict.signed_unbound, Verdict.content_mismatch, Verdict.invalid_signature)
    assert (result.verdict is Verdict.signed_unbound) == (result.content_bound is None and signature != SIGNATURE)
    assert content_binding(text, request_body=REQUEST, response_body=RESPONSE, images=images) in (True, False, None)


# ---------------------------------------------------------------------------------------------------------
# attestation


def devnet_report(signer: str = MOCK_TEE_ADDRESS, **extra: Any) -> str:
    report = {
        "signing_address": signer,
        "report_data": base64.b64encode(signer.encode().ljust(64, b"\0")).decode(),
        "intel_quote": "",
        "event_log": [],
        "info": {"app_id": "zerog-devnet", "tcb_info": "{}"},
        "devnet": True,
    }
    return json.dumps(report | extra)


def test_attestation_devnet_mock_matches() -> None:
    report = check_attestation(devnet_report(), tee_signer_address=MOCK_TEE_ADDRESS.lower())
    assert isinstance(report, AttestationReport)
    assert report.matches and report.is_devnet_mock and report.source == "report_data"
    assert report.signer_in_report == MOCK_TEE_ADDRESS
    assert "devnet mock" in report.note


def test_attestation_prefers_report_data_over_signing_address() -> None:
    text = devnet_report(signing_address=LLM_TEE)
    report = check_attestation(text, tee_signer_address=LLM_TEE)
    assert not report.matches and report.signer_in_report == MOCK_TEE_ADDRESS
    assert "does not match" in report.note


def test_attestation_falls_back_to_signing_address_and_provider_signer() -> None:
    no_data = json.dumps({"signing_address": MOCK_TEE_ADDRESS, "report_data": "!!!"})
    report = check_attestation(no_data.encode(), tee_signer_address=MOCK_TEE_ADDRESS)
    assert report.matches and report.source == "signing_address" and not report.is_devnet_mock
    assert "TEE verifier" in report.note
    hex_data = json.dumps({"signing_address": MOCK_TEE_ADDRESS, "report_data": "ab" * 64})
    assert check_attestation(hex_data, tee_signer_address=MOCK_TEE_ADDRESS).source == "signing_address"
    old = json.dumps({"quote": "..", "provider_signer": MOCK_TEE_ADDRESS})
    assert check_attestation(old, tee_signer_address=MOCK_TEE_ADDRESS).source == "provider_signer"


def test_attestation_report_data_without_padding() -> None:
    data = base64.b64encode(MOCK_TEE_ADDRESS.encode()).decode().rstrip("=")
    report = check_attestation(json.dumps({"report_data": data}), tee_signer_address=MOCK_TEE_ADDRESS)
    assert report.matches and report.source == "report_data"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ("{}", "names no signer"),
        (json.dumps({"report_data": 5, "signing_address": None}), "names no signer"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_attestation_garbage(text: str | bytes, fragment: str) -> None:
    report = check_attestation(text, tee_signer_address=MOCK_TEE_ADDRESS)
    assert not report.matches and report.signer_in_report is None
    assert fragment in report.note


@given(st.one_of(st.text(), st.binary(), st.builds(json.dumps, st.dictionaries(st.text(), st.text()))))
def test_attestation_never_raises(text: str | bytes) -> None:
    report = check_attestation(text, tee_signer_address=MOCK_TEE_ADDRESS)
    assert isinstance(report.matches, bool)


def test_images_that_could_not_be_fetched_leave_the_response_unbound() -> None:
    text = expected_image_text(REQUEST, [b"img-a"])
    result = run(text=text, signature=sign(text), images_problem="image URL 'http://x' is not on the origin")
    assert result.verdict is Verdict.signed_unbound and (result.request_bound, result.response_bound) == (True, None)
    assert "images could not be bound: image URL" in result.detail
    other = expected_image_text(b"another request", [b"img-a"])
    unbound = run(text=other, signature=sign(other), images_problem="x")  # neither half checkable as ours
    assert unbound.verdict is Verdict.signed_unbound
    assert (unbound.request_bound, unbound.response_bound) == (False, None)
    rewritten = run(text=other, signature=sign(other), images=[b"img-a"])
    assert rewritten.verdict is Verdict.verified and rewritten.request_bound is False


@pytest.mark.parametrize(
    "text",
    ["hello", f"{sha(REQUEST)}:junk", f"{sha(REQUEST)}:junk:centralized:openai:{'cd' * 32}", f"{sha(REQUEST)}:"],
)
def test_signed_text_that_binds_nothing_is_signed_unbound(text: str) -> None:
    result = run(text=text, signature=sign(text))
    assert result.verdict is Verdict.signed_unbound and result.content_bound is None
    with pytest.raises(VerificationError, match="signed_unbound"):
        apply_policy(result, "enforce")
