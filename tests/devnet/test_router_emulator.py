"""The Router emulator over a real socket: auth, listings, routing, failover, billing, limits, verify_tee."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from zerog_devnet import Devnet
from zerog_devnet.media import silent_wav as wav

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
CHAT = ("chat-a", "chat-b", "chat-c")


def chat_model(net: Devnet) -> str:
    return net.provider("chat-a").info.model


def address(net: Devnet, name: str) -> str:
    return net.provider(name).info.address


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(net: Devnet, body: dict[str, Any], key: str | None = None, **headers: str) -> httpx.Response:
    sent = {**auth(key or net.router.api_keys[0]), **{k.replace("_", "-"): v for k, v in headers.items()}}
    return httpx.post(f"{net.router.url}/chat/completions", json=body, headers=sent, timeout=60)


def chat(net: Devnet, key: str | None = None, **headers: str) -> httpx.Response:
    return post(net, {"model": chat_model(net), "messages": ASK}, key, **headers)


def assert_error(response: httpx.Response, status: int, kind: str, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["type"] == kind and body["error"]["code"] == code
    assert body["error"]["message"] and body["request_id"].startswith("req-")
    assert "X-Request-Id" not in response.headers and "X-0G-Provider" not in response.headers
    assert "X-RateLimit-Limit-Requests" in response.headers
    return body


def chat_fee(net: Devnet, name: str, usage: dict[str, Any]) -> int:
    info = net.provider(name).info
    return int(usage["prompt_tokens"] * info.input_price + usage["completion_tokens"] * info.output_price)


def served(response: httpx.Response) -> str:
    """Who served a JSON answer: ``x_0g_trace.provider`` (the Router sends no provider header)."""
    return str(response.json()["x_0g_trace"]["provider"])


def stream_lines(net: Devnet, body: dict[str, Any], **headers: str) -> tuple[httpx.Headers, list[str]]:
    sent = {**auth(net.router.api_keys[0]), **{k.replace("_", "-"): v for k, v in headers.items()}}
    with httpx.stream("POST", f"{net.router.url}/chat/completions", json=body, headers=sent, timeout=60) as response:
        assert response.status_code == 200
        return response.headers, [line for line in response.iter_lines() if line.startswith("data: ")]


def name_of(net: Devnet, provider: str) -> str:
    return next(p.name for p in net.providers if p.address == provider)


# ------------------------------------------------------------------------------------------------- listings


def test_models_are_public_and_list_every_devnet_model(devnet: Devnet) -> None:
    response = httpx.get(f"{devnet.router.url}/models")
    assert response.status_code == 200
    entries = {m["id"]: m for m in response.json()["data"]}
    assert set(entries) == {p.model for p in devnet.providers}
    chat_entry = entries[chat_model(devnet)]
    assert chat_entry["verifiability"] == "TeeML" and chat_entry["provider_count"] == 3
    assert chat_entry["name"] and chat_entry["type"] == "chatbot"
    cheapest = devnet.provider("chat-b").info
    assert chat_entry["pricing"] == {"prompt": str(cheapest.input_price), "completion": str(cheapest.output_price)}
    assert response.headers["X-RateLimit-Limit-Requests"] == "120"


def test_providers_lists_who_serves_a_model_with_their_prices(devnet: Devnet) -> None:
    url = f"{devnet.router.url}/providers"
    listed = httpx.get(url, params={"model": chat_model(devnet)}, headers=auth(devnet.router.api_keys[0])).json()
    by_address = {p["address"]: p for p in listed["data"]}
    assert set(by_address) == {address(devnet, n) for n in CHAT}
    for name in CHAT:
        info = devnet.provider(name).info
        entry = by_address[info.address]
        assert entry["pricing"]["prompt"] == str(info.input_price) and entry["tee_signer"] == info.tee_signer
    also = httpx.get(url, params={"model_id": chat_model(devnet)}).json()["data"]
    assert {p["address"] for p in also} == set(by_address)
    assert_error(httpx.get(url, params={"model": "no/such-model"}), 404, "not_found_error", "model_not_found")


# ------------------------------------------------------------------------------------------------- auth


def test_auth_errors_have_the_openai_shape(devnet: Devnet) -> None:
    body = {"model": chat_model(devnet), "messages": ASK}
    url = f"{devnet.router.url}/chat/completions"
    assert_error(httpx.post(url, json=body), 400, "invalid_request_error", "missing_authorization")
    assert_error(post(devnet, body, "sk-not-a-real-key"), 401, "invalid_request_error", "invalid_api_key")
    management = devnet.router.management_keys[0]
    assert_error(post(devnet, body, management), 403, "permission_error", "insufficient_scope")
    key = devnet.router.create_key()
    devnet.router.revoke(key)
    assert_error(post(devnet, body, key), 401, "invalid_request_error", "api_key_revoked")
    assert_error(
        httpx.post(f"{devnet.router.url}/nowhere", headers=auth(devnet.router.api_keys[0])),
        404,
        "not_found_error",
        "not_found",
    )


def test_account_balance_needs_a_management_key(devnet: Devnet) -> None:
    url = f"{devnet.router.url}/account/balance"
    sk, mk = devnet.router.api_keys[0], devnet.router.management_keys[0]
    assert_error(httpx.get(url, headers=auth(sk)), 403, "permission_error", "insufficient_scope")
    balance = httpx.get(url, headers=auth(mk)).json()
    expected = str(devnet.router.balance(sk))
    assert set(balance) == {"address", "deposit_balance", "credit_balance", "total_balance"}  # the published fields
    assert balance["total_balance"] == balance["deposit_balance"] == expected
    assert balance["credit_balance"] == "0" and balance["address"].startswith("0x")
    assert devnet.router.balance(mk) == devnet.router.balance(sk)  # one account, two keys
    funds = httpx.get(f"{devnet.router.url}/account/funds", headers=auth(mk)).json()
    assert funds["total"] == expected and funds["breakdown"]["pending_charge"] == "0"
    assert_error(
        httpx.get(f"{devnet.router.url}/account/funds", headers=auth(sk)), 403, "permission_error", "insufficient_scope"
    )


def test_funds_go_negative_when_the_account_owes(devnet: Devnet) -> None:
    key = devnet.router.create_key()
    mk = devnet.router.create_management_key(key)
    devnet.router.set_balance(key, -5)
    funds = httpx.get(f"{devnet.router.url}/account/funds", headers=auth(mk)).json()
    assert funds["total"] == "-5" and funds["breakdown"]["pending_charge"] == "5"
    balance = httpx.get(f"{devnet.router.url}/account/balance", headers=auth(mk)).json()
    assert balance["total_balance"] == "0"  # the ledger total is never negative


def test_usage_stats_and_history_with_filters(devnet: Devnet) -> None:
    key = devnet.router.create_key()
    mk = devnet.router.create_management_key(key)
    for _ in range(2):
        assert chat(devnet, key).status_code == 200
    url = devnet.router.url + "/account/usage"
    stats = httpx.get(f"{url}/stats", headers=auth(mk)).json()
    rows = devnet.router.usage(key)
    assert stats["total_requests"] == 2 and stats["total_cost"] == str(sum(int(r["cost"]) for r in rows))
    assert stats["total_tokens"] == stats["prompt_tokens"] + stats["completion_tokens"] > 0
    history = httpx.get(f"{url}/history", params={"limit": 1, "offset": 1}, headers=auth(mk)).json()
    assert history["total"] == 2 and history["data"][0]["request_id"] == rows[0]["request_id"]
    future = httpx.get(f"{url}/stats", params={"start_date": "2999-01-01"}, headers=auth(mk)).json()
    assert future["total_requests"] == 0
    other = httpx.get(f"{url}/history", params={"api_key_id": "nobody"}, headers=auth(mk)).json()
    assert other["total"] == 0
    bad = httpx.get(f"{url}/stats", params={"start_date": "yesterday"}, headers=auth(mk))
    assert_error(bad, 400, "invalid_request_error", "invalid_body")


# ------------------------------------------------------------------------------------------------- billing


def test_a_completion_debits_usage_times_the_providers_price(devnet: Devnet) -> None:
    key = devnet.router.api_keys[0]
    before = devnet.router.balance(key)
    owed_before = devnet.provider("chat-b").unsettled(devnet.router.address)
    response = chat(devnet, key, X_0G_Provider_Address=address(devnet, "chat-b"))
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["choices"][0]["message"]["content"] == "2 + 3 = 5"
    assert served(response) == address(devnet, "chat-b") and "X-0G-Provider" not in response.headers
    assert reply["id"] == f"chatcmpl-{response.headers['ZG-Res-Key']}"
    fee = chat_fee(devnet, "chat-b", reply["usage"])
    assert fee > 0 and before - devnet.router.balance(key) == fee
    billed = reply["x_0g_trace"]["billing"]  # always there, in neuron strings, exactly what was debited
    assert billed["total_cost"] == str(fee) and int(billed["input_cost"]) + int(billed["output_cost"]) == fee
    assert reply["x_0g_trace"]["request_id"].startswith("req-")
    assert devnet.router.usage(key)[-1]["request_id"] == reply["x_0g_trace"]["request_id"]
    # the provider billed the Router's own sub-account exactly what the Router billed the key
    assert devnet.provider("chat-b").unsettled(devnet.router.address) - owed_before == fee
    assert devnet.router.usage(key)[-1]["cost"] == str(fee)
    assert "tee_verified" not in reply["x_0g_trace"]  # only with verify_tee


def test_an_empty_balance_is_402_before_any_provider_is_asked(devnet: Devnet) -> None:
    key = devnet.router.create_key(balance=0)
    owed = {n: devnet.provider(n).unsettled(devnet.router.address) for n in CHAT}
    body = assert_error(chat(devnet, key), 402, "payment_error", "insufficient_balance")
    assert "pc.0g.ai" in body["error"]["message"]
    assert {n: devnet.provider(n).unsettled(devnet.router.address) for n in CHAT} == owed
    devnet.router.set_balance(key, 1)  # a positive balance may go below zero with the next request
    assert chat(devnet, key).status_code == 200
    assert devnet.router.balance(key) < 0
    assert_error(chat(devnet, key), 402, "payment_error", "insufficient_balance")


def test_stream_is_relayed_and_billed_from_its_usage_chunk(devnet: Devnet) -> None:
    key = devnet.router.api_keys[1]
    before = devnet.router.balance(key)
    body = {"model": chat_model(devnet), "messages": ASK, "stream": True}
    headers = {**auth(key), "X-0G-Provider-Address": address(devnet, "chat-c")}
    with httpx.stream("POST", f"{devnet.router.url}/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "X-0G-Provider" not in response.headers and response.headers["ZG-Res-Key"]
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == "2 + 3 = 5"
    usage = next(c["usage"] for c in chunks if c.get("usage"))
    fee = chat_fee(devnet, "chat-c", usage)
    assert before - devnet.router.balance(key) == fee
    traces = [c["x_0g_trace"] for c in chunks if "x_0g_trace" in c]
    assert len(traces) == 1 and traces[0]["billing"]["total_cost"] == str(fee)
    assert traces[0]["provider"] == address(devnet, "chat-c") and "tee_verified" not in traces[0]


def test_media_are_routed_and_billed_and_embeddings_are_not_served(devnet: Devnet) -> None:
    key = devnet.router.api_keys[0]
    url, headers = devnet.router.url, auth(key)
    embed, image, speech = (devnet.provider(n).info for n in ("embed", "image", "speech"))

    response = httpx.post(f"{url}/embeddings", json={"model": embed.model, "input": "hello"}, headers=headers)
    assert_error(response, 404, "not_found_error", "not_found")  # no Router page documents /v1/embeddings

    before = devnet.router.balance(key)
    body = {"model": image.model, "prompt": "a red square", "n": 2, "response_format": "b64_json"}
    response = httpx.post(f"{url}/images/generations", json=body, headers=headers, timeout=60)
    assert response.status_code == 200 and len(response.json()["data"]) == 2
    assert before - devnet.router.balance(key) == 2 * image.output_price
    assert response.json()["x_0g_trace"]["billing"]["total_cost"] == str(2 * image.output_price)
    for wrong in (None, "url"):  # b64_json is required
        asked = {k: v for k, v in {**body, "response_format": wrong}.items() if v is not None}
        response = httpx.post(f"{url}/images/generations", json=asked, headers=headers)
        assert_error(response, 400, "invalid_request_error", "invalid_body")

    before = devnet.router.balance(key)
    files = {"file": ("hello.wav", wav(2.0), "audio/wav")}
    data = {"model": speech.model}
    response = httpx.post(f"{url}/audio/transcriptions?verify_tee=true", data=data, files=files, headers=headers)
    assert response.status_code == 200, response.text
    trace = response.json()["x_0g_trace"]
    assert trace["tee_verified"] is True and trace["billing"]["total_cost"] == str(before - devnet.router.balance(key))
    as_field = {"model": speech.model, "verify_tee": "true"}  # a form field is not the query parameter
    response = httpx.post(f"{url}/audio/transcriptions", data=as_field, files=files, headers=headers, timeout=60)
    assert response.status_code == 200 and "tee_verified" not in response.json()["x_0g_trace"]

    response = httpx.post(f"{url}/chat/completions", json={"model": embed.model, "messages": ASK}, headers=headers)
    assert_error(response, 400, "invalid_request_error", "invalid_body")


# ------------------------------------------------------------------------------------------------- routing


def test_default_routing_is_round_robin_over_the_models_providers(devnet: Devnet) -> None:
    servers = [served(chat(devnet)) for _ in range(3)]
    assert sorted(servers) == sorted(address(devnet, n) for n in CHAT)


def test_pinning_and_sorting(devnet: Devnet) -> None:
    for name in CHAT:
        pinned = chat(devnet, X_0G_Provider_Address=address(devnet, name).lower())
        assert served(pinned) == address(devnet, name)
    for _ in range(2):
        cheapest = chat(devnet, X_0G_Provider_Sort="price")
        assert served(cheapest) == address(devnet, "chat-b")
    devnet.provider("chat-a").faults.set(latency_ms=300)
    devnet.provider("chat-c").faults.set(latency_ms=150)
    for _ in range(3):
        chat(devnet)  # measure every provider once
    fastest = chat(devnet, X_0G_Provider_Sort="latency")
    assert served(fastest) == address(devnet, "chat-b")
    listed = httpx.get(f"{devnet.router.url}/providers", params={"model": chat_model(devnet)}).json()["data"]
    latency = {p["address"]: p["latency_ms"] for p in listed}
    assert latency[address(devnet, "chat-a")] > latency[address(devnet, "chat-b")]


def test_bad_routing_headers_are_400(devnet: Devnet) -> None:
    code = "invalid_provider_header"
    assert_error(chat(devnet, X_0G_Provider_Address="0x123"), 400, "invalid_request_error", code)
    assert_error(chat(devnet, X_0G_Provider_Sort="cheapest"), 400, "invalid_request_error", code)
    for mode in ("standard", "verified"):  # private is the one documented trust mode
        assert_error(chat(devnet, X_0G_Provider_Trust_Mode=mode), 400, "invalid_request_error", code)
    embed = address(devnet, "embed")
    assert_error(chat(devnet, X_0G_Provider_Address=embed), 400, "invalid_request_error", code)
    assert chat(devnet, X_0G_Provider_Trust_Mode="private").status_code == 200


def test_private_trust_mode_skips_teetls_providers(devnet: Devnet) -> None:
    devnet.router.faults.set(teetls_providers=(address(devnet, "chat-a"), address(devnet, "chat-b")))
    listed = httpx.get(f"{devnet.router.url}/providers", params={"model": chat_model(devnet)}).json()["data"]
    assert {p["address"]: p["verifiability"] for p in listed}[address(devnet, "chat-a")] == "TeeTLS"
    for _ in range(3):
        assert served(chat(devnet, X_0G_Provider_Trust_Mode="private")) == address(devnet, "chat-c")
    devnet.router.faults.set(teetls_providers=tuple(address(devnet, n) for n in CHAT))
    response = chat(devnet, X_0G_Provider_Trust_Mode="private")
    assert_error(response, 503, "server_error", "no_provider_for_trust_mode")
    assert chat(devnet).status_code == 200  # without the header any provider serves


def test_unknown_model_is_404_and_a_bad_body_is_400(devnet: Devnet) -> None:
    response = post(devnet, {"model": "no/such-model", "messages": ASK})
    assert_error(response, 404, "not_found_error", "model_not_found")
    assert_error(post(devnet, {"messages": ASK}), 400, "invalid_request_error", "invalid_body")
    response = httpx.post(
        f"{devnet.router.url}/chat/completions", content=b"{nope", headers=auth(devnet.router.api_keys[0])
    )
    assert_error(response, 400, "invalid_request_error", "invalid_body")


# ------------------------------------------------------------------------------------------------- failover


def test_failover_skips_a_faulty_provider(devnet: Devnet) -> None:
    devnet.provider("chat-a").faults.set(http_status=502)
    key = devnet.router.api_keys[0]
    for _ in range(4):
        before = devnet.router.balance(key)
        response = chat(devnet, key)
        assert response.status_code == 200, response.text
        server = served(response)
        assert server != address(devnet, "chat-a")
        fee = chat_fee(devnet, name_of(devnet, server), response.json()["usage"])
        assert before - devnet.router.balance(key) == fee  # the failed attempt cost nothing


def test_failover_after_a_stopped_provider_and_a_rate_limit_storm(devnet: Devnet) -> None:
    devnet.provider("chat-b").stop()
    devnet.provider("chat-c").faults.set(rate_limit_storm=True)
    for _ in range(3):
        response = chat(devnet)
        assert response.status_code == 200 and served(response) == address(devnet, "chat-a")


def test_a_pinned_provider_does_not_fall_back_unless_allowed(devnet: Devnet) -> None:
    devnet.provider("chat-a").faults.set(http_status=502)
    pin = address(devnet, "chat-a")
    body = assert_error(chat(devnet, X_0G_Provider_Address=pin), 502, "server_error", "provider_error")
    assert pin in body["error"]["message"]
    response = chat(devnet, X_0G_Provider_Address=pin, X_0G_Provider_Allow_Fallbacks="true")
    assert response.status_code == 200 and served(response) != pin


def test_exhausted_failover_is_502_with_provider_errors_and_503_when_none_answer(devnet: Devnet) -> None:
    for name in CHAT:
        devnet.provider(name).faults.set(http_status=503)
    assert_error(chat(devnet), 502, "server_error", "provider_error")
    for name in CHAT:
        devnet.provider(name).stop()
    assert_error(chat(devnet), 503, "server_error", "no_available_provider")


def test_all_providers_rate_limiting_is_a_429_with_retry_after(devnet: Devnet) -> None:
    for name in CHAT:
        devnet.provider(name).faults.set(rate_limit_storm=True)
    response = chat(devnet)
    assert_error(response, 429, "rate_limit_error", "rate_limit_exceeded")
    assert int(response.headers["Retry-After"]) >= 1


def test_a_stream_cut_by_the_provider_ends_with_an_error_event(devnet: Devnet) -> None:
    devnet.provider("chat-a").faults.set(stream_cut_after=2)
    body = {"model": chat_model(devnet), "messages": ASK, "stream": True}
    headers = {**auth(devnet.router.api_keys[0]), "X-0G-Provider-Address": address(devnet, "chat-a")}
    with httpx.stream("POST", f"{devnet.router.url}/chat/completions", json=body, headers=headers) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert "data: [DONE]" not in lines
    assert json.loads(lines[-1][6:])["error"]["code"] == "provider_error"


# ------------------------------------------------------------------------------------------------- limits


def test_every_response_carries_rate_limit_headers_and_the_limit_is_enforced(devnet: Devnet) -> None:
    devnet.router.set_rate_limit(2)
    key = devnet.router.create_key()
    first, second, third = (chat(devnet, key) for _ in range(3))
    assert [first.status_code, second.status_code] == [200, 200]
    assert [r.headers["X-RateLimit-Remaining-Requests"] for r in (first, second, third)] == ["1", "0", "0"]
    reset = datetime.fromisoformat(third.headers["X-RateLimit-Reset-Requests"].replace("Z", "+00:00"))
    assert reset.tzinfo is not None
    assert_error(third, 429, "rate_limit_error", "rate_limit_exceeded")
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert chat(devnet).status_code == 200  # limits are per key


def test_router_faults_answer_with_the_documented_codes(devnet: Devnet) -> None:
    devnet.router.faults.set(http_status=503)
    assert_error(chat(devnet), 503, "server_error", "no_available_provider")
    devnet.router.faults.set(http_status=429)
    assert chat(devnet).headers["Retry-After"] == "1"
    devnet.router.faults.clear()
    assert chat(devnet).status_code == 200


# ------------------------------------------------------------------------------------------------- verify_tee


def test_verify_tee_adds_a_trace_to_json_responses(devnet: Devnet) -> None:
    pin = address(devnet, "chat-a")
    response = post(
        devnet, {"model": chat_model(devnet), "messages": ASK, "verify_tee": True}, X_0G_Provider_Address=pin
    )
    trace = response.json()["x_0g_trace"]
    assert trace["provider"] == pin and trace["tee_verified"] is True
    assert trace["request_id"].startswith("req-")
    devnet.provider("chat-a").faults.set(wrong_signature=True)
    bad = post(devnet, {"model": chat_model(devnet), "messages": ASK, "verify_tee": True}, X_0G_Provider_Address=pin)
    assert bad.json()["x_0g_trace"]["tee_verified"] is False and "TEE signer" in bad.json()["x_0g_trace"]["detail"]
    devnet.provider("chat-a").faults.set(wrong_signature=False, sign_other_content=True)
    other = post(devnet, {"model": chat_model(devnet), "messages": ASK, "verify_tee": True}, X_0G_Provider_Address=pin)
    assert other.json()["x_0g_trace"]["tee_verified"] is False


@pytest.mark.parametrize("placement", ["chunk", "usage", "bare"])
def test_a_streams_trace_comes_before_done_in_each_placement(devnet: Devnet, placement: str) -> None:
    devnet.router.faults.set(stream_trace=placement)
    body = {"model": chat_model(devnet), "messages": ASK, "stream": True, "verify_tee": True}
    _, lines = stream_lines(devnet, body, X_0G_Provider_Address=address(devnet, "chat-b"))
    assert lines[-1] == "data: [DONE]" and sum("x_0g_trace" in line for line in lines) == 1
    last = json.loads(lines[-2][6:])
    trace = last["x_0g_trace"]
    assert trace["provider"] == address(devnet, "chat-b") and trace["tee_verified"] is True
    assert int(trace["billing"]["total_cost"]) > 0
    shape = {
        "chunk": last.get("choices") == [] and "usage" not in last,
        "usage": "usage" in last,
        "bare": len(last) == 1,
    }
    assert shape[placement]


def test_stream_trace_placements_rotate_by_default(devnet: Devnet) -> None:
    body = {"model": chat_model(devnet), "messages": ASK, "stream": True}
    shapes = set()
    for _ in range(3):
        _, lines = stream_lines(devnet, body)
        last = json.loads(lines[-2][6:])
        shapes.add("usage" if "usage" in last else "bare" if len(last) == 1 else "chunk")
    assert shapes == {"chunk", "usage", "bare"}


def test_verify_tee_on_images(devnet: Devnet) -> None:
    image = devnet.provider("image").info
    b64 = {"model": image.model, "prompt": "a blue circle", "response_format": "b64_json", "verify_tee": True}
    response = httpx.post(f"{devnet.router.url}/images/generations", json=b64, headers=auth(devnet.router.api_keys[0]))
    assert base64.b64decode(response.json()["data"][0]["b64_json"])
    assert response.json()["x_0g_trace"]["tee_verified"] is True


# ------------------------------------------------------------------------------------------------- devnet wiring


def test_the_description_names_the_router_and_its_keys(devnet: Devnet) -> None:
    described = devnet.describe()["router"]
    assert described["url"] == devnet.router.url and described["url"].endswith("/v1")
    assert [k["key"] for k in described["api_keys"]] == devnet.router.api_keys
    assert all(k["key"].startswith("sk-devnet-") for k in described["api_keys"])
    assert all(k.startswith("mk-devnet-") for k in described["management_keys"])
    assert described["address"] == devnet.router_account.address == devnet.router.address
    json.dumps(devnet.describe())


def test_revert_restores_balances_and_clears_router_faults(devnet: Devnet) -> None:
    key = devnet.router.api_keys[0]
    initial = devnet.router.balance(key)
    snapshot = devnet.snapshot()
    assert chat(devnet, key).status_code == 200
    devnet.router.faults.set(http_status=500)
    devnet.revert(snapshot)
    assert devnet.router.balance(key) == initial and devnet.router.faults.state.http_status == 0


# ------------------------------------------------------------------------------------------------- async jobs, edits


def test_async_image_jobs_submit_poll_and_verify(devnet: Devnet) -> None:
    image = devnet.provider("image").info
    key = devnet.router.api_keys[0]
    url, headers = devnet.router.url, auth(key)
    before = devnet.router.balance(key)
    body = {"model": image.model, "prompt": "a green square", "response_format": "b64_json"}
    submitted = httpx.post(f"{url}/async/images/generations", json=body, headers=headers)
    assert submitted.status_code == 200, submitted.text
    job = submitted.json()
    assert job["status"] in ("queued", "running") and job["provider_address"] == image.address
    poll = f"{url}/async/jobs/{job['id']}"
    assert_error(httpx.get(poll, headers=headers), 400, "invalid_request_error", "invalid_body")
    params = {"provider_address": image.address, "verify_tee": "true"}
    for _ in range(200):
        current = httpx.get(poll, params=params, headers=headers).json()
        if current["status"] == "succeeded":
            break
        time_to_wait = 0.05
        httpx.get(f"{url}/models", timeout=time_to_wait + 5)  # a round trip instead of a sleep
    assert current["status"] == "succeeded" and base64.b64decode(current["data"][0]["b64_json"])
    trace = current["x_0g_trace"]
    assert trace["tee_verified"] is True and trace["billing"]["total_cost"] == str(image.output_price)
    assert before - devnet.router.balance(key) == image.output_price
    other = auth(devnet.router.api_keys[1])  # another account's job does not exist for it
    assert_error(httpx.get(poll, params=params, headers=other), 404, "not_found_error", "job_not_found")
    no_format = {"model": image.model, "prompt": "x"}
    response = httpx.post(f"{url}/async/images/generations", json=no_format, headers=headers)
    assert_error(response, 400, "invalid_request_error", "invalid_body")


def test_image_edits_are_multipart_with_verify_tee_in_the_query(devnet: Devnet) -> None:
    image = devnet.provider("image").info
    url, headers = devnet.router.url, auth(devnet.router.api_keys[0])
    files = {"image": ("in.png", b"\x89PNG fake", "image/png")}
    data = {"model": image.model, "prompt": "make it blue", "response_format": "b64_json"}
    response = httpx.post(f"{url}/images/edits?verify_tee=true", data=data, files=files, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert base64.b64decode(reply["data"][0]["b64_json"]) and reply["x_0g_trace"]["tee_verified"] is True
    assert reply["x_0g_trace"]["billing"]["total_cost"] == str(image.output_price)
    missing = httpx.post(f"{url}/images/edits", data=data, files={"file": ("a", b"b", "x/y")}, headers=headers)
    assert_error(missing, 400, "invalid_request_error", "invalid_body")
