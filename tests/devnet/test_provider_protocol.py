"""A devnet provider over a real socket and a real chain: routes, auth, billing, signing, limits."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import time
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from zerog_devnet import Devnet
from zerog_devnet.broker.ratelimit import GlobalCap
from zerog_devnet.chain import contract
from zerog_devnet.media import silent_wav as _wav

from .conftest import make_auth

pytestmark = pytest.mark.devnet
CHAT = {"messages": [{"role": "user", "content": "What is 2 + 3?"}]}


def chat_body(net: Devnet, name: str = "chat-a", **extra: object) -> dict[str, object]:
    return {"model": net.provider(name).info.model, **CHAT, **extra}


def post(net: Devnet, name: str, route: str, auth: str | None, **kwargs: Any) -> httpx.Response:
    headers = {**kwargs.pop("headers", {}), **({"Authorization": auth} if auth else {})}
    return httpx.post(f"{net.provider(name).info.url}/v1/proxy{route}", headers=headers, timeout=30, **kwargs)


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b", "image", "speech", "embed"])
    return devnet


def auth_for(net: Devnet, name: str = "chat-a", **overrides: object) -> str:
    return make_auth(net.users[0], net.provider(name).info.address, **overrides)


def test_contracts_sit_at_the_sdk_hardhat_addresses(devnet: Devnet) -> None:
    assert devnet.contracts.ledger == "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
    assert devnet.contracts.inference == "0x0165878A594ca255338adfa4d48449f69242Eb8F"
    assert devnet.contracts.fine_tuning == "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0"


def test_providers_are_registered_staked_and_acknowledged(devnet: Devnet) -> None:
    inference = contract(devnet.w3, "InferenceServing", devnet.contracts.inference)
    services, total = inference.functions.getAllServices(0, 50).call()
    assert total == len(devnet.providers)
    by_provider = {s[0]: s for s in services}
    for info in devnet.providers:
        service = by_provider[info.address]
        assert (service[1], service[2], service[6], service[7]) == (
            info.service_type,
            info.url,
            info.model,
            "TeeML",
        )
        assert service[9] == info.tee_signer and service[10] is True
        config, additional = devnet.provider(info.name).runtime.config, json.loads(service[8])
        centralized = additional.get("ProviderType") == "centralized"  # TeeTLS: brokers force TargetSeparated
        assert additional["TargetSeparated"] is (config.separated or centralized)
        assert (additional["TargetTeeAddress"] not in ("", info.tee_signer)) is config.separated
        assert additional.get("MultiModel", False) is bool(config.extra_models)


def test_models_and_quote(devnet: Devnet) -> None:
    info = devnet.provider("chat-a").info
    models = httpx.get(f"{info.url}/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == info.model
    assert models["data"][0]["pricing"] == {
        "prompt": str(info.input_price),
        "completion": str(info.output_price),
    }
    quote = httpx.get(f"{info.url}/v1/quote")
    report = json.loads(quote.text)
    assert report["signing_address"] == info.tee_signer and "NOT a hardware" in report["notice"]
    signer = Account.recover_message(encode_defunct(text=quote.text), signature=quote.headers["ZG-Quote-Signature"])
    assert signer == info.tee_signer


def test_unknown_proxy_path_and_signature_miss(devnet: Devnet) -> None:
    url = devnet.provider("chat-a").info.url
    unknown = httpx.post(f"{url}/v1/proxy/completions", json={})
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"error": "unsupported endpoint: endpoint not supported"},
    )
    miss = httpx.get(f"{url}/v1/proxy/signature/not-a-chat-id")
    assert miss.status_code == 400
    assert miss.json() == {"error": "prepare HTTP request: Chat id not found or expired, chat_id_not_found"}


def test_auth_failures_use_the_broker_messages(funded: Devnet) -> None:
    missing = post(funded, "chat-a", "/chat/completions", None, json=chat_body(funded))
    assert missing.status_code == 400
    assert missing.json()["error"].startswith("validate session: missing or invalid Authorization header")
    expired = post(
        funded,
        "chat-a",
        "/chat/completions",
        auth_for(funded, timestamp=1, expiresAt=1000),
        json=chat_body(funded),
    )
    assert expired.json() == {"error": "validate session: session token expired"}
    other = post(funded, "chat-b", "/chat/completions", auth_for(funded), json=chat_body(funded, "chat-b"))
    assert other.json() == {"error": "validate session: session token is for different provider"}
    future = post(funded, "chat-a", "/chat/completions", auth_for(funded, generation=1), json=chat_body(funded))
    assert future.json() == {"error": "validate session: invalid session token (future generation)"}


def test_account_must_exist(devnet: Devnet) -> None:
    stranger = devnet.users[1]
    auth = make_auth(stranger, devnet.provider("chat-a").info.address)
    response = post(devnet, "chat-a", "/chat/completions", auth, json=chat_body(devnet))
    assert response.status_code == 400
    assert response.json()["error"].startswith("validate request: get account from contract, account not exist: ")


def test_admission_needs_one_0g_locked_plus_unsettled(devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"], each=10**18)
    first = post(devnet, "chat-a", "/chat/completions", auth_for(devnet), json=chat_body(devnet))
    assert first.status_code == 200
    second = post(devnet, "chat-a", "/chat/completions", auth_for(devnet), json=chat_body(devnet))
    assert second.status_code == 400
    assert second.json()["error"].startswith(
        "validate request: insufficient balance: your locked balance is 1.000000 0G"
    )


def test_chat_is_billed_signed_and_content_bound(funded: Devnet) -> None:
    handle = funded.provider("chat-a")
    body = json.dumps(chat_body(funded)).encode()
    response = post(
        funded,
        "chat-a",
        "/chat/completions",
        auth_for(funded),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    chat_id = response.headers["ZG-Res-Key"]
    assert response.headers["Provider"] == handle.info.address
    payload = response.json()
    assert payload["id"] == f"chatcmpl-{chat_id}"
    usage = payload["usage"]
    fee = usage["prompt_tokens"] * handle.info.input_price + usage["completion_tokens"] * handle.info.output_price
    assert handle.unsettled(funded.users[0].address) == fee
    sig = httpx.get(f"{handle.info.url}/v1/proxy/signature/{chat_id}").json()
    expected_text = f"{hashlib.sha256(body).hexdigest()}:{hashlib.sha256(response.content).hexdigest()}"
    assert sig["text"] == expected_text
    assert (
        Account.recover_message(encode_defunct(text=sig["text"]), signature=sig["signature"]) == handle.info.tee_signer
    )
    unsettled = httpx.get(
        f"{handle.info.url}/v1/user/{funded.users[0].address}/unsettledfee",
        headers={"Authorization": auth_for(funded)},
    ).json()
    assert unsettled == {"userAddress": funded.users[0].address, "unsettledFee": str(fee)}


def test_unsettled_fee_is_only_for_yourself(funded: Devnet) -> None:
    url = funded.provider("chat-a").info.url
    response = httpx.get(
        f"{url}/v1/user/{funded.users[1].address}/unsettledfee", headers={"Authorization": auth_for(funded)}
    )
    assert (response.status_code, response.json()) == (
        403,
        {"error": "you can only query your own unsettled fee"},
    )


def test_stream_injects_usage_and_signs_the_delivered_bytes(funded: Devnet) -> None:
    handle = funded.provider("chat-a")
    with httpx.stream(
        "POST",
        f"{handle.info.url}/v1/proxy/chat/completions",
        json=chat_body(funded, stream=True),
        headers={"Authorization": auth_for(funded)},
    ) as response:
        assert response.status_code == 200
        raw = response.read()
    chat_id = response.headers["ZG-Res-Key"]
    lines = [line for line in raw.decode().split("\n") if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["id"] == f"chatcmpl-{chat_id}" for c in chunks)
    assert len([c for c in chunks if c["choices"]]) >= 3
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and usage["completion_tokens"] > 0
    sig = httpx.get(f"{handle.info.url}/v1/proxy/signature/{chat_id}").json()
    assert sig["text"].split(":")[1] == hashlib.sha256(raw).hexdigest()
    fee = usage["prompt_tokens"] * handle.info.input_price + usage["completion_tokens"] * handle.info.output_price
    assert handle.unsettled(funded.users[0].address) == fee


def test_model_must_match(funded: Devnet) -> None:
    response = post(funded, "chat-a", "/chat/completions", auth_for(funded), json={**CHAT, "model": "gpt-4"})
    assert response.status_code == 400
    assert 'model not supported: requested "gpt-4"' in response.json()["error"]


def test_images_are_billed_per_image_and_signed_over_image_bytes(funded: Devnet) -> None:
    handle = funded.provider("image")
    body = {"model": handle.info.model, "prompt": "a red fox", "n": 2, "size": "64x64"}
    response = post(funded, "image", "/images/generations", auth_for(funded, "image"), json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2
    assert handle.unsettled(funded.users[0].address) == 2 * handle.info.output_price
    sig = httpx.get(f"{handle.info.url}/v1/proxy/signature/{response.headers['ZG-Res-Key']}").json()
    assert len(sig["text"].split(":")[1].split(",")) == 2


def test_transcription_is_billed_per_second(funded: Devnet) -> None:
    handle = funded.provider("speech")
    files = {"file": ("clip.wav", _wav(3.0), "audio/wav")}
    response = post(
        funded,
        "speech",
        "/audio/transcriptions",
        auth_for(funded, "speech"),
        files=files,
        data={"model": handle.info.model},
    )
    assert response.status_code == 200, response.text
    assert "ZG-Res-Key" in response.headers
    assert handle.unsettled(funded.users[0].address) == 3 * handle.info.input_price


def test_embeddings_are_billed_per_input_token(funded: Devnet) -> None:
    handle = funded.provider("embed")
    body = {"model": handle.info.model, "input": ["the cat sat", "on the mat"]}
    response = post(funded, "embed", "/embeddings", auth_for(funded, "embed"), json=body)
    assert response.status_code == 200, response.text
    tokens = response.json()["usage"]["prompt_tokens"]
    assert tokens > 0 and handle.unsettled(funded.users[0].address) == tokens * handle.info.input_price


def test_per_user_burst_of_five_then_429(funded: Devnet) -> None:
    auth = auth_for(funded)
    url = f"{funded.provider('chat-a').info.url}/v1/proxy/chat/completions"
    with httpx.Client(timeout=30) as client:
        codes = [
            client.post(url, json=chat_body(funded), headers={"Authorization": auth}).status_code for _ in range(6)
        ]
        last = client.post(url, json=chat_body(funded), headers={"Authorization": auth})
    assert codes[:5] == [200] * 5 and codes[5] == 429
    assert last.json() == {
        "error": {
            "type": "rate_limit_error",
            "message": "Rate limit exceeded. Please slow down your request rate (limit: 30 requests/min).",
        }
    }


def test_five_concurrent_requests_per_user(funded: Devnet) -> None:
    funded.provider("chat-a").faults.set(latency_ms=3000)
    auth = auth_for(funded)

    def call(_: int) -> int:
        return post(funded, "chat-a", "/chat/completions", auth, json=chat_body(funded)).status_code

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        in_flight = [pool.submit(call, i) for i in range(5)]
        time.sleep(2.2)  # one bucket token refills (30/min) while five requests are still in flight
        sixth = post(funded, "chat-a", "/chat/completions", auth, json=chat_body(funded))
        codes = [f.result() for f in in_flight]
    assert codes == [200] * 5
    assert sixth.status_code == 429
    assert sixth.json() == {
        "error": "Too many concurrent requests. You have 5 active requests (limit: 5). "
        "Please wait for some to complete."
    }


def test_settlement_moves_fees_on_chain(funded: Devnet) -> None:
    handle = funded.provider("chat-a")
    inference = contract(funded.w3, "InferenceServing", funded.contracts.inference)
    user = funded.users[0].address
    before = inference.functions.getAccount(user, handle.info.address).call()[3]
    for _ in range(3):
        assert post(funded, "chat-a", "/chat/completions", auth_for(funded), json=chat_body(funded)).status_code == 200
    owed = handle.unsettled(user)
    escrow = funded.w3.eth.get_balance(funded.contracts.inference)
    assert int(handle.settle_now()["settled"]) == owed
    assert before - inference.functions.getAccount(user, handle.info.address).call()[3] == owed
    assert escrow - funded.w3.eth.get_balance(funded.contracts.inference) == owed  # paid out to the provider
    assert handle.settle_now()["settled"] == "0"


def test_revert_restores_chain_and_provider_state(devnet_session: Devnet) -> None:
    net = devnet_session
    snapshot = net.snapshot()
    net.fund(net.users[2], ["chat-a"])
    ledger = contract(net.w3, "LedgerManager", net.contracts.ledger)
    assert ledger.functions.getLedger(net.users[2].address).call()[1] == 8 * 10**18
    net.revert(snapshot)
    with pytest.raises(Exception, match="LedgerNotExists|0x7d2d536b"):
        ledger.functions.getLedger(net.users[2].address).call()


def test_images_as_urls_are_served_by_the_provider(funded: Devnet) -> None:
    handle = funded.provider("image")
    body = {"model": handle.info.model, "prompt": "a blue whale", "response_format": "url", "size": "32x32"}
    raw = json.dumps(body).encode()
    response = post(funded, "image", "/images/generations", auth_for(funded, "image"), content=raw)
    assert response.status_code == 200, response.text
    url = response.json()["data"][0]["url"]
    assert url.startswith(f"{handle.info.url}/v1/proxy/images/{response.headers['ZG-Res-Key']}/")
    image = httpx.get(url)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    sig = httpx.get(f"{handle.info.url}/v1/proxy/signature/{response.headers['ZG-Res-Key']}").json()
    digests = hashlib.sha256(raw).hexdigest(), hashlib.sha256(image.content).hexdigest()
    assert sig["text"] == ":".join(digests)  # the client's own body, and the decoded image bytes
    missing = httpx.get(f"{handle.info.url}/v1/proxy/images/nope/0")
    assert (missing.status_code, missing.json()) == (404, {"error": "image not found or expired"})


def test_global_cap_answers_503_before_auth(funded: Devnet) -> None:
    handle = funded.provider("chat-a")
    original = handle.runtime.global_cap
    handle.runtime.global_cap = GlobalCap(1)
    handle.faults.set(hang=True)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            hanging = pool.submit(post, funded, "chat-a", "/chat/completions", auth_for(funded), json=chat_body(funded))
            time.sleep(0.3)
            refused = post(funded, "chat-a", "/chat/completions", None, json=chat_body(funded))
            handle.faults.clear()
            assert hanging.result().status_code == 200
    finally:
        handle.runtime.global_cap = original
    assert refused.status_code == 503
    assert refused.json() == {"error": "Server is currently processing too many requests. Please try again later."}


def test_revocation_is_read_from_the_chain(funded: Devnet) -> None:
    inference = contract(funded.w3, "InferenceServing", funded.contracts.inference)
    provider, user = funded.provider("chat-a").info.address, funded.users[0]
    persistent = auth_for(funded, tokenId=3, expiresAt=0)
    assert post(funded, "chat-a", "/chat/completions", persistent, json=chat_body(funded)).status_code == 200
    tx = inference.functions.revokeToken(provider, 3).transact({"from": user.address})
    funded.w3.eth.wait_for_transaction_receipt(tx)
    revoked = post(funded, "chat-a", "/chat/completions", persistent, json=chat_body(funded))
    assert revoked.json() == {"error": "validate session: session token has been revoked"}
    old = auth_for(funded)
    tx = inference.functions.revokeAllTokens(provider).transact({"from": user.address})
    funded.w3.eth.wait_for_transaction_receipt(tx)
    stale = post(funded, "chat-a", "/chat/completions", old, json=chat_body(funded))
    assert stale.json() == {"error": "validate session: session token has been revoked (generation expired)"}
    fresh = post(funded, "chat-a", "/chat/completions", auth_for(funded, generation=1), json=chat_body(funded))
    assert fresh.status_code == 200
