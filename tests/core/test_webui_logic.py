"""The Web UI's pure parts: access checks, what a move plans, how providers are shaped, chat turns. No network."""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

import pytest

from zerog_compute.cli import EXIT_USAGE, main
from zerog_compute.errors import ConfigurationError
from zerog_compute.ledger import LedgerInfo, SubAccount
from zerog_compute.services import Service, unit_prices
from zerog_compute.webui.access import Denied, UIAccess, parse_form, without_token
from zerog_compute.webui.charts import bar_chart
from zerog_compute.webui.chat import MAX_TEXT, parse_turn
from zerog_compute.webui.moves import Move, parse_move, plan_for
from zerog_compute.webui.views import AccountView, Probe, provider_row, verifiability_mode

TOKEN = "t" * 43
G = 10**18
P1 = "0x" + "11" * 20
P1_SUM = "0x1111111111111111111111111111111111111111"


def access(port: int = 3090) -> UIAccess:
    return UIAccess.of(TOKEN, port=port)


def test_hosts_and_origins() -> None:
    a = access()
    a.check_site({"host": "127.0.0.1:3090"}, "GET")
    a.check_site({"host": "localhost:3090", "origin": "http://localhost:3090"}, "POST")
    a.check_site({"host": "127.0.0.1:3090", "sec-fetch-site": "same-origin"}, "POST")
    for headers, status in (
        ({"host": "evil.example:3090"}, 421),  # DNS rebinding
        ({"host": "127.0.0.1:3091"}, 421),
        ({"host": "127.0.0.1:3090", "origin": "http://127.0.0.1:8000"}, 403),  # same site, another port
        ({"host": "127.0.0.1:3090", "origin": "null"}, 403),
        ({"host": "127.0.0.1:3090", "origin": "https://127.0.0.1:3090"}, 403),
        ({"host": "127.0.0.1:3090"}, 403),  # a POST that says nothing of where it comes from
        ({"host": "127.0.0.1:3090", "sec-fetch-site": "same-site"}, 403),
    ):
        with pytest.raises(Denied) as caught:
            a.check_site(headers, "POST")
        assert caught.value.status == status, headers


def test_allowed_hosts() -> None:
    a = UIAccess.of(TOKEN, host="0.0.0.0", port=3090, allowed_hosts=["box.lan"])
    a.check_site({"host": "box.lan:3090", "origin": "http://box.lan:3090"}, "POST")
    with pytest.raises(Denied):
        a.check_site({"host": "other.lan:3090"}, "GET")


def test_session_and_csrf_are_derived_not_the_token() -> None:
    a, other = access(), UIAccess.of("u" * 43, port=3090)
    assert a.session != a.csrf and TOKEN not in (a.session, a.csrf) and a.session != other.session
    assert a.session_matches(f"x=1; {a.cookie_name}={a.session}")
    assert not a.session_matches(f"{a.cookie_name}={other.session}")
    assert not a.session_matches(f"zerog_ui_3091={a.session}")  # another UI's cookie name
    assert not a.session_matches('bad"cookie') and not a.session_matches(None)
    assert a.csrf_matches(a.csrf) and not a.csrf_matches(other.csrf) and not a.csrf_matches(None)
    assert a.token_matches(TOKEN) and not a.token_matches(TOKEN[:-1])
    assert "t" * 10 not in repr(a)
    with pytest.raises(ConfigurationError):
        UIAccess.of("short", port=1)


def test_bodies() -> None:
    a = access()
    assert a.check_body({"content-type": "application/x-www-form-urlencoded; charset=utf-8"}).endswith("urlencoded")
    for headers, status in (
        ({"content-type": "text/plain"}, 415),
        ({"content-type": "multipart/form-data"}, 415),
        ({"content-type": "application/json", "content-length": str(a.max_body + 1)}, 413),
        ({"content-type": "application/json", "content-length": "-1"}, 413),
    ):
        with pytest.raises(Denied) as caught:
            a.check_body(headers)
        assert caught.value.status == status
    assert parse_form(b"a=1&b=&a=2") == {"a": ["1", "2"], "b": [""]}
    with pytest.raises(Denied):
        parse_form(b"\xff=1")
    with pytest.raises(Denied):
        parse_form(b"&".join(b"f%d=1" % i for i in range(100)))
    assert without_token("/providers", f"token={TOKEN}&x=1") == "/providers?x=1"
    assert without_token("/", f"token={TOKEN}") == "/"
    assert without_token("//evil.example/x", f"token={TOKEN}") == "/evil.example/x"  # no open redirect
    assert without_token("/\\evil.example", "") == "/evil.example"


def test_parse_move() -> None:
    assert parse_move({"action": ["deposit"], "amount": ["1.5"]}) == Move("deposit", 15 * 10**17)
    assert parse_move({"action": ["transfer"], "amount": ["1"], "provider": [P1]}) == Move("transfer", G, (P1_SUM,))
    assert parse_move({"action": ["retrieve"]}) == Move("retrieve")
    assert parse_move({"action": ["retrieve"], "provider": [P1, " "]}) == Move("retrieve", None, (P1_SUM,))
    assert Move("transfer", 15 * 10**17, (P1_SUM,)).fields() == [
        ("action", "transfer"),
        ("amount", "1.5"),
        ("provider", P1_SUM),
    ]
    for form in (
        {"action": ["steal"], "amount": ["1"]},
        {"action": ["deposit"], "amount": ["1e3"]},
        {"action": ["deposit"], "amount": ["-1"]},
        {"action": ["deposit"]},
        {"action": ["deposit", "refund"], "amount": ["1"]},
        {"action": ["transfer"], "amount": ["1"]},
        {"action": ["transfer"], "amount": ["1"], "provider": ["0x12"]},
    ):
        with pytest.raises(ConfigurationError):
            parse_move(form)


def view(ledger: LedgerInfo | None, accounts: Sequence[SubAccount] = (), wallet: int = 100 * G) -> AccountView:
    return AccountView("0xME", "devnet", wallet, ledger, list(accounts), {})


def sub(provider: str, balance: int, pending: int = 0) -> SubAccount:
    return SubAccount(
        provider=provider,
        balance=balance,
        pending_refund=pending,
        acknowledged=True,
        generation=0,
        revoked_bitmap=0,
        nonce=0,
    )


def test_plans_say_what_moves_and_refuse_what_cannot() -> None:
    ledger = LedgerInfo(user="0xME", available=4 * G, total=10 * G)
    deposit = plan_for(Move("deposit", 2 * G), view(ledger))
    assert deposit.problem is None and deposit.lines == [{"from": "wallet 0xME", "to": "ledger", "amount": "2 0G"}]
    assert ("ledger available", "4 0G", "6 0G") in deposit.after
    assert plan_for(Move("deposit", 2 * G), view(None)).problem == "creating the ledger needs at least 3 0G, not 2 0G"
    assert "wallet holds only" in (plan_for(Move("deposit", 200 * G), view(ledger)).problem or "")
    assert plan_for(Move("refund", 4 * G), view(ledger)).problem is None
    assert "only 4 0G available" in (plan_for(Move("refund", 5 * G), view(ledger)).problem or "")
    small = LedgerInfo(user="0xME", available=4 * G, total=4 * G)
    assert "keeps 0 or at least 3 0G" in (plan_for(Move("refund", 2 * G), view(small)).problem or "")
    transfer = plan_for(Move("transfer", G // 2, (P1_SUM,)), view(ledger, [sub(P1_SUM, G)]))
    assert transfer.problem is None and (f"sub-account {P1_SUM}", "1 0G", "1.5 0G") in transfer.after
    new = plan_for(Move("transfer", G // 2, (P1_SUM,)), view(ledger))
    assert new.problem == "a new sub-account needs at least 1 0G, not 0.5 0G"
    assert "no ledger yet" in (plan_for(Move("transfer", G, (P1_SUM,)), view(None)).problem or "")
    retrieve = plan_for(Move("retrieve"), view(ledger, [sub(P1_SUM, 2 * G, pending=G // 2)]))
    assert retrieve.problem is None and [line["amount"] for line in retrieve.lines] == ["1.5 0G"]
    assert plan_for(Move("retrieve"), view(ledger)).problem == "there are no sub-accounts to retrieve from"


def service(**changes: object) -> Service:
    base: dict[str, object] = {
        "provider": P1_SUM,
        "service_type": "chatbot",
        "url": "http://127.0.0.1:1",
        "input_price": 100,
        "output_price": 200,
        "updated_at": 0,
        "model": "m",
        "verifiability": "TeeML",
        "additional_info": "",
        "tee_signer_address": P1_SUM,
        "tee_signer_acknowledged": True,
    }
    return Service.model_validate({**base, **changes})


def test_verifiability_mode_reads_additional_info() -> None:
    assert verifiability_mode(service()) == "TeeML"
    assert verifiability_mode(service(additional_info='{"ProviderType": "centralized"}')) == "TeeTLS"
    assert verifiability_mode(service(additional_info='{"TargetSeparated": true}')) == "TeeML (separated)"
    assert verifiability_mode(service(additional_info='{"TargetSeparated": "true"}')) == "TeeML"  # JSON true only
    assert verifiability_mode(service(verifiability="")) == "none"
    assert verifiability_mode(service(verifiability="OpML")) == "OpML"


def test_prices_per_unit_and_rows() -> None:
    assert unit_prices(service()) == (100 * 10**6, 200 * 10**6)
    assert unit_prices(service(service_type="text-to-image")) == (None, 200)
    assert unit_prices(service(service_type="speech-to-text")) == (100, None)
    row = provider_row(service(input_price=10**11), Probe(reachable=True, latency_ms=12.4), sub(P1_SUM, 2 * G))
    assert (row["input_price"], row["unit"], row["latency_ms"], row["balance"]) == ("0.1", "per 1M tokens", 12, "2")
    row = provider_row(service(service_type="text-to-image"), Probe(), None)
    assert (row["input_price"], row["acknowledged"], row["balance"], row["models"]) == ("—", None, None, ["m"])


def test_chat_turns_are_validated() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert parse_turn({"target": "pool:m", "messages": messages}) == ("pool:m", messages)
    for body in (
        [],
        {"target": "m", "messages": messages},
        {"target": "pool:m", "messages": []},
        {"target": "pool:m", "messages": [{"role": "tool", "content": "x"}]},
        {"target": "pool:m", "messages": [{"role": "user", "content": 1}]},
        {"target": "pool:m", "messages": [{"role": "user", "content": "x" * (MAX_TEXT + 1)}]},
    ):
        with pytest.raises(ConfigurationError):
            parse_turn(body)


def test_bar_chart_is_svg_with_exact_values_and_escaped_labels() -> None:
    svg = bar_chart([("2026-12-01", 3 * G // 2), ("<b>&", 3 * G), ("idle", 0)], title="Spend per day")
    root = ElementTree.fromstring(svg)  # well-formed XML
    bars = root.findall("{http://www.w3.org/2000/svg}g")
    widths = [int(g.find("{http://www.w3.org/2000/svg}rect").get("width")) for g in bars]
    assert widths[1] == 2 * widths[0] and widths[2] == 0  # proportional; zero is no bar
    assert "<b>" not in svg and "&lt;b&gt;&amp;: 3 0G" in svg and "1.5 0G" in svg
    assert "nothing to show" in bar_chart([], title="empty")
    with pytest.raises(ValueError):
        bar_chart([("x", -1)], title="negative")


def test_zerog_ui_needs_a_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ZG_PRIVATE_KEY", raising=False)
    assert main(["ui", "--network", "testnet"]) == EXIT_USAGE
    assert "no private key" in capsys.readouterr().err
