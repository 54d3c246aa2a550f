"""The Web UI's Usage page: its filters, paging, totals, charts and audit table (pure), and the page served
in-process from a usage ledger of its own (no chain: the reconciliation is in ``test_webui_browser.py``)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from zerog_compute import AsyncZeroG
from zerog_compute.errors import ConfigurationError
from zerog_compute.networks import TESTNET
from zerog_compute.usage import ProviderAudit, Reconciliation, UnexplainedSettlement, UsageRecord, group
from zerog_compute.webui import build_app
from zerog_compute.webui.usage_page import (
    MAX_PROVIDERS,
    UsageQuery,
    audit_rows,
    parse_from_block,
    parse_query,
    provider_chart,
    usage_view,
)
from zerog_devnet.anvil import free_port

G = 10**18
P1, P2 = "0x" + "11" * 20, "0x" + "22" * 20
DAY = 86_400
T0 = 1_764_547_200.0  # 2025-12-01 00:00:00 UTC
TOKEN = "k" * 43


def record(i: int, *, provider: str = P1, at: float | None = None, **fields: object) -> UsageRecord:
    values: dict[str, object] = {
        "id": f"r{i}",
        "time": T0 + i * 3600 if at is None else at,
        "chain_id": 16602,
        "wallet": "0x" + "aa" * 20,
        "backend": "direct",
        "provider": provider,
        "model": "m-1",
        "input_tokens": 10,
        "output_tokens": 5,
        "fee": (i + 1) * 10**15,
        "verdict": "verified",
        "chat_id": f"chat-{i}",
    }
    return UsageRecord(**{**values, **fields})  # type: ignore[arg-type]


def test_parse_query_validates_every_filter() -> None:
    assert parse_query({}) == UsageQuery()
    q = parse_query(
        {
            "provider": [P1.upper().replace("0X", "0x")],
            "model": [" m-1 "],
            "backend": ["router"],
            "since": ["2025-12-01"],
        }
        | {"until": ["2025-12-02"], "size": ["25"], "before": ["1764550000.5"]}
    )
    assert (q.provider, q.model, q.backend, q.size, q.before) == (P1, "m-1", "router", 25, 1764550000.5)
    where = q.where()
    assert (where.since, where.until) == (T0, T0 + 2 * DAY)  # both days included
    assert q.params() == [
        ("provider", P1),
        ("model", "m-1"),
        ("backend", "router"),
        ("since", "2025-12-01"),
        ("until", "2025-12-02"),
        ("size", "25"),
    ]
    assert parse_query({"provider": [""], "backend": [""], "size": [""]}) == UsageQuery()  # an empty form
    for params, message in (
        ({"provider": ["0x12"]}, "provider must be"),
        ({"backend": ["both"]}, "backend must be"),
        ({"size": ["100000"]}, "size must be one of"),
        ({"since": ["12/01/2025"]}, "YYYY-MM-DD"),
        ({"since": ["2025-12-01T00"]}, "YYYY-MM-DD"),
        ({"since": ["2025-12-02"], "until": ["2025-12-01"]}, "before since"),
        ({"before": ["nan"]}, "Unix time"),
        ({"before": ["soon"]}, "Unix time"),
        ({"model": ["x" * 201]}, "longer than"),
        ({"model": ["a", "b"]}, "once"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            parse_query(params)
    assert parse_from_block({}) == 0 and parse_from_block({"from_block": [" 120 "]}) == 120
    with pytest.raises(ConfigurationError, match="block number"):
        parse_from_block({"from_block": ["-1"]})


def test_usage_view_filters_pages_and_totals() -> None:
    records = [record(i, provider=P1 if i % 3 else P2) for i in range(60)]  # oldest first, as the ledger reads
    view = usage_view(records, UsageQuery(size=25))
    assert view.matched == 60 and [r["id"] for r in view.rows] == [f"r{i}" for i in range(59, 34, -1)]  # newest
    assert view.total.requests == 60 and view.total.fee == sum(r.fee for r in records)
    assert view.total_fee == "1.83" and view.days == 3 and view.providers == [P1, P2] and view.newest is None
    assert view.older == f"/usage?size=25&before={records[35].time!r}"

    second = usage_view(records, parse_query({"before": [str(records[35].time)]}))
    assert [r["id"] for r in second.rows] == [f"r{i}" for i in range(34, -1, -1)]  # all the rest (50 per page)
    assert second.older is None and second.newest == "/usage"

    only = usage_view(records, UsageQuery(provider=P2, since=records[24].at.date()))
    assert {r["provider"] for r in only.rows} == {P2} and only.matched == len(only.rows) == 12
    assert only.total.fee == sum(r.fee for r in records[24:] if r.provider == P2)
    assert only.providers == [P1, P2]  # the choices stay the wallet's whole history

    row = view.rows[0]
    assert (row["time"], row["fee"], row["fee_neuron"], row["provider_short"]) == (
        "2025-12-03 11:00:00",
        "0.06",
        str(60 * 10**15),
        "0x111111…111111",
    )
    assert usage_view([], UsageQuery()).rows == [] and "nothing to show" in usage_view([], UsageQuery()).day_chart


def test_charts_are_svg_of_the_filtered_spend() -> None:
    records = [record(i, at=T0 + i * DAY) for i in range(40)] + [record(99, provider=P2, fee=7 * G)]
    view = usage_view(records, UsageQuery())
    days = ElementTree.fromstring(view.day_chart)
    labels = [t.text for t in days.iter("{http://www.w3.org/2000/svg}title")][1:]
    assert len(labels) == 31 and labels[-1] == "2026-01-09: 0.04 0G"  # the newest 31 of 41 days
    by_provider = ElementTree.fromstring(view.provider_chart)
    titles = [t.text for t in by_provider.iter("{http://www.w3.org/2000/svg}title")][1:]
    assert titles[0] == "0x222222…222222: 7 0G"  # the largest first
    many = [record(i, provider=f"0x{i:040x}") for i in range(MAX_PROVIDERS + 3)]
    svg = provider_chart(group(many, "provider"))
    assert "3 others: " in svg and svg.count("<rect") == MAX_PROVIDERS + 1


def audit(provider: str, **fields: object) -> ProviderAudit:
    values: dict[str, object] = {"provider": provider, "requests": 2, "recorded": 3 * G // 2, "settled": G}
    return ProviderAudit(**{**values, "unsettled": G // 2, "status": "match", "difference": 0, **fields})  # type: ignore[arg-type]


def test_audit_rows_show_matches_and_overcharges_in_0g() -> None:
    excess = UnexplainedSettlement(block=7, tx_hash="0x" + "ab" * 32, amount=10**15)
    result = Reconciliation(
        chain_id=31337,
        wallet=P1,
        contract=P2,
        from_block=0,
        to_block=9,
        providers=[
            audit(P1),
            audit(P2, settled=G + 10**15, status="overcharge", difference=10**15, unexplained=[excess]),
            audit("0x" + "33" * 20, unsettled=None, status="incomplete", difference=None),
            audit("0x" + "44" * 20, unsettled=0, status="undercharge", difference=-G // 2),
        ],
    )
    match, over, incomplete, under = audit_rows(result)
    assert (match["status"], match["status_class"], match["flagged"]) == ("match", "good", False)
    assert (match["recorded"], match["settled"], match["unsettled"], match["claimed"], match["difference"]) == (
        "1.5",
        "1",
        "0.5",
        "1.5",
        "0",
    )
    assert (over["status_class"], over["flagged"], over["difference"], over["claimed"]) == (
        "bad",
        True,
        "+0.001",
        "1.501",
    )
    assert over["unexplained"] == [{"block": 7, "tx_hash": excess.tx_hash, "amount": "0.001"}]
    assert (incomplete["unsettled"], incomplete["claimed"], incomplete["difference"]) == ("unknown", "unknown", "—")
    assert (under["status_class"], under["difference"], under["flagged"]) == ("dim", "-0.5", False)


@pytest.mark.anyio
async def test_the_page_in_process(tmp_path: Path) -> None:
    """``/usage`` from a client's own ledger: the history, the filters, the charts; the reconcile POST needs the
    CSRF token, and a chain that cannot be read is said on the page."""
    base = "http://127.0.0.1:3090"
    nowhere = TESTNET.with_rpc(f"http://127.0.0.1:{free_port()}")  # nothing listens: the chain cannot be read
    async with AsyncZeroG(private_key="0x" + "12" * 32, network=nowhere, usage=f"sqlite://{tmp_path}/u.db") as zg:
        wallet, chain_id = zg.address.lower(), zg.network.chain_id
        ledger = zg.usage.ledger
        for i in range(3):
            ledger.append(record(i, provider=P1 if i else P2, wallet=wallet, chain_id=chain_id))
        ledger.append(record(9, wallet="0x" + "99" * 20, chain_id=chain_id))  # another wallet's: not shown
        app = build_app(zg, token=TOKEN, port=3090)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as browser:
            assert (await browser.get("/usage")).status_code == 401  # no session
            await browser.get(f"/?token={TOKEN}")
            page = await browser.get("/usage")
            assert page.status_code == 200 and 'id="nav-usage"' in page.text
            assert page.text.count('<tr data-id="') == 3 and 'id="total-requests">3<' in page.text
            assert f'data-provider="{P2}" data-fee="{10**15}"' in page.text and "Spend per provider" in page.text
            narrowed = await browser.get("/usage", params={"provider": P1, "since": "2025-12-01", "size": "25"})
            assert narrowed.text.count('<tr data-id="') == 2 and 'id="total-fee">0.005<' in narrowed.text
            assert (await browser.get("/usage", params={"since": "yesterday"})).status_code == 400
            csrf = page.text.split('name="zerog-csrf" content="', 1)[1].split('"', 1)[0]
            own = {"Origin": base}
            forged = await browser.post("/usage/reconcile", data={"from_block": "0"}, headers=own)
            assert forged.status_code == 403  # no CSRF token: nothing read, nothing asked
            bad = await browser.post("/usage/reconcile", data={"csrf": csrf, "from_block": "x"}, headers=own)
            assert bad.status_code == 400 and "block number" in bad.text
            failed = await browser.post("/usage/reconcile", data={"csrf": csrf, "provider": P1}, headers=own)
            assert failed.status_code == 200 and 'id="audit-error"' in failed.text  # said on the page, history kept
            assert "The reconciliation failed: cannot reach the RPC endpoint" in failed.text
            assert failed.text.count('<tr data-id="') == 2


@pytest.mark.anyio
async def test_the_page_says_when_the_ledger_is_off() -> None:
    base = "http://127.0.0.1:3090"
    async with AsyncZeroG(private_key="0x" + "12" * 32, network="testnet", usage=False) as zg:
        app = build_app(zg, token=TOKEN, port=3090)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as browser:
            await browser.get(f"/?token={TOKEN}")
            page = await browser.get("/usage")
    assert page.status_code == 200 and 'id="usage-off"' in page.text and "usage ledger is off" in page.text
    assert "form-reconcile" not in page.text
