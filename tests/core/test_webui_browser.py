"""``zerog ui`` in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) drives every page.

One ``zerog ui`` process and one browser session serve the whole module (they start in about two seconds); the
devnet is the session's, under a snapshot reverted at the end. What the pages show is checked against the chain.
Screenshots go to the test's temporary directory, or to ``$ZEROG_UI_SCREENSHOTS`` (how ``docs/img`` is made).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from zerog_compute import ZeroG, forget_wallet_states
from zerog_compute.units import format_0g
from zerog_devnet import Devnet
from zerog_devnet.anvil import free_port

from .conftest import devnet_network

pytestmark = pytest.mark.devnet

NO_CHROMIUM = (
    "Chromium is not installed (Debian: apt-get install chromium chromium-driver; `make install` does it as root)"
)
WAIT_S = 60.0
OVERCHARGE = 10**15


@dataclass
class UI:
    url: str
    token: str
    driver: Any
    net: Devnet
    shots: Path
    usage: str
    """The UI's own usage ledger: only this module's requests are in it."""

    def zg(self) -> ZeroG:
        return ZeroG(private_key=self.net.users[0].private_key, network=devnet_network(self.net), usage=self.usage)


def _browser_paths() -> tuple[str, str]:
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip(NO_CHROMIUM)
    return browser, driver


def _start_driver(browser: str, driver_path: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1480,820"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def _start_ui(net: Devnet, workdir: Path, usage: str) -> tuple[subprocess.Popen[bytes], str, str]:
    description = net.write_description(workdir / "devnet.json")
    port = free_port()
    token_file = workdir / "ui-token"
    env = {
        **os.environ,
        "ZG_NETWORK": "devnet",
        "ZG_DEVNET_FILE": str(description),
        "ZG_PRIVATE_KEY": net.users[0].private_key,
        "ZG_USAGE": usage,
    }
    command = [sys.executable, "-m", "zerog_compute.cli", "ui", "--port", str(port), "--token-file", str(token_file)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            httpx.get(url + "/", timeout=5)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
    return proc, url, token_file.read_text().strip()


@pytest.fixture(scope="module")
def ui(devnet_session: Devnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    browser, driver_path = _browser_paths()
    net = devnet_session
    snapshot = net.snapshot()
    workdir = tmp_path_factory.mktemp("webui")
    shots = Path(os.environ.get("ZEROG_UI_SCREENSHOTS") or workdir)
    net.fund(net.users[0], ["chat-a", "chat-b"])
    usage = f"sqlite://{workdir / 'usage.db'}"
    proc, url, token = _start_ui(net, workdir, usage)
    driver = None
    try:
        driver = _start_driver(browser, driver_path)
        yield UI(url, token, driver, net, shots, usage)
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(10)
        net.revert(snapshot)
        forget_wallet_states()


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def _wait_fresh(driver: Any, condition: Any) -> Any:
    """Like :func:`_wait`, while the page it started on may still be replaced by the next one."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, WAIT_S, ignored_exceptions=ignored).until(condition)


def _text(driver: Any, css: str) -> str:
    """The text of the element ``css`` selects, waiting for it to appear (a page may still be loading)."""
    from selenium.webdriver.common.by import By

    return str(_wait(driver, lambda drv: drv.find_element(By.CSS_SELECTOR, css)).text)


def _g(neuron: int) -> str:
    return format_0g(neuron)[: -len(" 0G")]


def test_sign_in_and_providers_page(ui: UI) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = ui.driver
    d.get(f"{ui.url}/providers")
    assert "sign in" in _text(d, "body")  # no cookie yet: refused
    d.get(f"{ui.url}/?token={ui.token}")
    _wait(d, lambda drv: drv.current_url == f"{ui.url}/providers")  # the token left the address bar
    rows = d.find_elements(By.CSS_SELECTOR, "#providers tbody tr")
    assert {r.get_attribute("data-provider") for r in rows} == {p.address for p in ui.net.providers}
    chat_a = ui.net.provider("chat-a").info
    row = d.find_element(By.CSS_SELECTOR, f'tr[data-provider="{chat_a.address}"]')
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "chatbot" and chat_a.model in cells[2]
    assert cells[3] == _g(chat_a.input_price * 10**6) and cells[4] == _g(chat_a.output_price * 10**6)
    assert cells[5] == "per 1M tokens" and cells[6] == "TeeML"
    assert cells[7] == "signer matches (devnet mock)" and cells[8].startswith("yes, ")
    with ui.zg() as zg:
        account = zg.ledger.sub_account(chat_a.address)
    assert account is not None
    assert cells[9] == ("yes" if account.acknowledged else "no") and cells[10] == _g(account.balance)
    image = d.find_element(By.CSS_SELECTOR, f'tr[data-provider="{ui.net.provider("image").info.address}"]')
    assert "per image" in image.text and image.find_elements(By.TAG_NAME, "td")[10].text == "—"

    d.find_element(By.CSS_SELECTOR, 'th[data-key="input"]').click()
    shown = [int(r.get_attribute("data-input")) for r in d.find_elements(By.CSS_SELECTOR, "#providers tbody tr")]
    assert shown == sorted(shown)
    Select(d.find_element(By.ID, "filter-type")).select_by_value("chatbot")
    visible = [r for r in d.find_elements(By.CSS_SELECTOR, "#providers tbody tr") if r.is_displayed()]
    chatbots = [p for p in ui.net.providers if p.service_type == "chatbot"]
    assert {r.get_attribute("data-type") for r in visible} == {"chatbot"}, d.get_log("browser")
    assert len(visible) == len(chatbots)
    Select(d.find_element(By.ID, "filter-type")).select_by_value("")
    d.save_screenshot(str(ui.shots / "ui-providers.png"))


def _account_matches_chain(ui: UI) -> None:
    from selenium.webdriver.common.by import By

    d = ui.driver
    with ui.zg() as zg:
        info = zg.ledger.get()
        accounts = zg.ledger.sub_accounts()
        wallet = int(zg._run(_balance_flow(zg.address)))
    assert _text(d, "#wallet-balance") == _g(wallet)
    assert (_text(d, "#ledger-total"), _text(d, "#ledger-available"), _text(d, "#ledger-locked")) == (
        _g(info.total),
        _g(info.available),
        _g(info.locked),
    )
    rows = d.find_elements(By.CSS_SELECTOR, "#sub-accounts tbody tr")
    shown = {r.get_attribute("data-provider"): r.find_element(By.CSS_SELECTOR, ".balance").text for r in rows}
    assert shown == {a.provider: _g(a.balance) for a in accounts}


def _balance_flow(address: str) -> Any:
    from zerog_compute._io import Rpc

    result = yield Rpc("eth_getBalance", (address, "latest"))
    return int(result, 16)


def test_account_page_and_a_transfer_through_the_confirmation(ui: UI) -> None:
    from selenium.webdriver.common.by import By

    d = ui.driver
    d.find_element(By.ID, "nav-account").click()
    _wait(d, lambda drv: drv.current_url.endswith("/account"))
    _account_matches_chain(ui)
    unsettled = d.find_elements(By.CSS_SELECTOR, "#sub-accounts .unsettled")
    assert [c.text for c in unsettled] == ["0", "0"]  # the providers report nothing owed yet

    # a refund larger than what is available is stopped at the confirmation, nothing sent
    form = d.find_element(By.ID, "form-refund")
    form.find_element(By.NAME, "amount").send_keys("100")
    form.find_element(By.TAG_NAME, "button").click()
    _wait(d, lambda drv: drv.current_url.endswith("/account/confirm"))
    assert "cannot be sent" in _text(d, "#plan-problem")
    assert not d.find_elements(By.ID, "confirm-button")
    d.find_element(By.LINK_TEXT, "Back to the account").click()

    chat_c = ui.net.provider("chat-c").info.address
    form = d.find_element(By.ID, "form-transfer")
    form.find_element(By.NAME, "provider").send_keys(chat_c)
    form.find_element(By.NAME, "amount").send_keys("1.5")
    form.find_element(By.TAG_NAME, "button").click()
    _wait(d, lambda drv: drv.current_url.endswith("/account/confirm"))
    lines = _text(d, "#plan-lines")
    assert f"sub-account with {chat_c}" in lines and "1.5 0G" in lines and "ledger (available)" in lines
    assert "none yet" in _text(d, "#plan-after")
    with ui.zg() as zg:
        assert zg.ledger.sub_account(chat_c) is None  # nothing moved before the confirmation
    d.find_element(By.ID, "confirm-button").click()
    _wait(d, lambda drv: drv.find_element(By.ID, "job").get_attribute("data-state") != "pending")
    assert _text(d, "#job-state") == "Confirmed.", _text(d, "#job-message")
    with ui.zg() as zg:
        account = zg.ledger.sub_account(chat_c)
    assert account is not None and account.balance == 15 * 10**17
    d.find_element(By.ID, "back-to-account").click()
    _wait(d, lambda drv: drv.current_url.endswith("/account"))
    _account_matches_chain(ui)

    with ui.zg() as zg:
        total = zg.ledger.get().total
    _confirm(d, "form-deposit", amount="2")
    assert "wallet" in _text(d, "#plan-lines") and "2 0G" in _text(d, "#plan-lines")
    _send_confirmed(d)
    with ui.zg() as zg:
        assert zg.ledger.get().total == total + 2 * 10**18

    _confirm(d, "form-retrieve", tick=chat_c)
    assert f"sub-account with {chat_c}" in _text(d, "#plan-lines") and "1.5 0G" in _text(d, "#plan-lines")
    _send_confirmed(d)
    with ui.zg() as zg:
        account = zg.ledger.sub_account(chat_c)
    assert account is not None and account.pending_refund == 15 * 10**17
    d.find_element(By.ID, "back-to-account").click()
    _wait(d, lambda drv: drv.current_url.endswith("/account"))
    _account_matches_chain(ui)
    row = d.find_element(By.CSS_SELECTOR, f'#sub-accounts tr[data-provider="{chat_c}"]')
    assert row.find_element(By.CSS_SELECTOR, ".pending").text == "1.5"
    d.save_screenshot(str(ui.shots / "ui-account.png"))


def _confirm(d: Any, form_id: str, *, amount: str | None = None, tick: str | None = None) -> None:
    """Fill one of the Account page's forms and open its confirmation."""
    from selenium.webdriver.common.by import By

    if not d.current_url.endswith("/account"):
        d.find_element(By.ID, "nav-account").click()
        _wait(d, lambda drv: drv.current_url.endswith("/account"))
    form = d.find_element(By.ID, form_id)
    if amount is not None:
        form.find_element(By.NAME, "amount").send_keys(amount)
    if tick is not None:
        form.find_element(By.CSS_SELECTOR, f'input[value="{tick}"]').click()
    form.find_element(By.TAG_NAME, "button").click()
    _wait(d, lambda drv: drv.current_url.endswith("/account/confirm"))


def _send_confirmed(d: Any) -> None:
    """Press "Confirm and send" and wait for the job page to say the transaction confirmed."""
    from selenium.webdriver.common.by import By

    _wait(d, lambda drv: drv.find_element(By.ID, "confirm-button")).click()
    _wait(d, lambda drv: drv.find_element(By.ID, "job").get_attribute("data-state") != "pending")
    assert _text(d, "#job-state") == "Confirmed.", _text(d, "#job-message")


def test_chat_through_a_failover_pool(ui: UI) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = ui.driver
    d.find_element(By.ID, "nav-chat").click()
    _wait(d, lambda drv: drv.current_url.endswith("/chat"))
    Select(d.find_element(By.ID, "chat-target")).select_by_value("pool:zerog-devnet/scripted-chat")
    d.find_element(By.ID, "chat-input").send_keys("What is 2 + 3?")
    d.find_element(By.ID, "chat-send").click()
    reply = _wait(d, lambda drv: drv.find_element(By.CSS_SELECTOR, '.msg.assistant[data-finished="yes"]'))
    assert reply.find_element(By.CSS_SELECTOR, ".content").text == "2 + 3 = 5"
    meta = reply.find_element(By.CSS_SELECTOR, ".meta")
    assert meta.find_element(By.CSS_SELECTOR, ".verdict").text == "verified", meta.text
    provider, fee = meta.get_attribute("data-provider"), int(meta.get_attribute("data-fee"))
    name = next(p.name for p in ui.net.providers if p.address == provider)
    assert name in ("chat-a", "chat-b", "chat-c") and f"fee {format_0g(fee)}" in meta.text
    assert ui.net.provider(name).unsettled(ui.net.users[0].address) == fee  # what the provider will charge
    with ui.zg() as zg:
        before = zg.ledger.sub_account(provider)
        ui.net.provider(name).settle_now()
        after = zg.ledger.sub_account(provider)
    assert before is not None and after is not None and before.balance - after.balance == fee  # settled on chain
    d.save_screenshot(str(ui.shots / "ui-chat.png"))

    chat_a = ui.net.provider("chat-a").info.address  # one provider, no failover: it answers the next turn
    Select(d.find_element(By.ID, "chat-target")).select_by_value(f"provider:{chat_a}")
    d.find_element(By.ID, "chat-input").send_keys("What is 2 + 3?")
    d.find_element(By.ID, "chat-send").click()
    replies = _wait(d, lambda drv: drv.find_elements(By.CSS_SELECTOR, '.msg.assistant[data-finished="yes"]')[1:])
    meta = replies[0].find_element(By.CSS_SELECTOR, ".meta")
    assert meta.get_attribute("data-provider") == chat_a and "verified" in meta.text, meta.text


def test_usage_page_shows_the_chats_and_reconciles_them_with_the_chain(ui: UI) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = ui.driver
    d.find_element(By.ID, "nav-usage").click()
    _wait(d, lambda drv: drv.current_url.endswith("/usage"))
    with ui.zg() as zg:  # read after the page: the UI wrote its queued records before showing them
        records = zg.usage.records()
    assert len(records) == 2 and {r.backend for r in records} == {"direct"}  # the two chat turns
    rows = d.find_elements(By.CSS_SELECTOR, "#usage-records tbody tr")
    shown = {
        r.get_attribute("data-id"): (
            r.get_attribute("data-provider"),
            r.get_attribute("data-fee"),
            r.find_element(By.CSS_SELECTOR, ".fee").text,
        )
        for r in rows
    }
    assert shown == {r.id: (r.provider, str(r.fee), _g(r.fee)) for r in records}
    assert [r.get_attribute("data-id") for r in rows] == [r.id for r in reversed(records)]  # newest first
    assert _text(d, "#total-fee") == _g(sum(r.fee for r in records)) and _text(d, "#total-requests") == "2"
    assert len(d.find_elements(By.CSS_SELECTOR, "#chart-days svg g.bar")) == len({r.at.date() for r in records})

    chat_a = ui.net.provider("chat-a").info.address.lower()
    Select(d.find_element(By.CSS_SELECTOR, '#usage-filters select[name="provider"]')).select_by_value(chat_a)
    d.find_element(By.ID, "apply-filters").click()
    _wait(d, lambda drv: "provider=" in drv.current_url)
    rows = d.find_elements(By.CSS_SELECTOR, "#usage-records tbody tr")
    assert {r.get_attribute("data-provider") for r in rows} == {chat_a}
    assert len(rows) == sum(1 for r in records if r.provider == chat_a)

    # the pool's provider settled its turn (settle_now), chat-a holds the last one unsettled: all must match
    d.find_element(By.ID, "reconcile-button").click()
    summary = _text(d, "#audit-summary")
    assert "No overcharge" in summary, summary
    audits = d.find_elements(By.CSS_SELECTOR, "#audit tbody tr")
    by_provider = {a.get_attribute("data-provider"): a for a in audits}
    assert set(by_provider) == {r.provider for r in records}
    for provider, row in by_provider.items():
        fees = sum(r.fee for r in records if r.provider == provider)
        assert row.find_element(By.CSS_SELECTOR, ".status").text == "match" == row.get_attribute("data-status")
        assert row.find_element(By.CSS_SELECTOR, ".recorded").text == _g(fees)
        assert row.find_element(By.CSS_SELECTOR, ".claimed").text == _g(fees)
        assert row.find_element(By.CSS_SELECTOR, ".difference").text == "0"
    assert _g(records[0].fee) in {a.find_element(By.CSS_SELECTOR, ".settled").text for a in audits}  # on chain
    assert _wait(d, lambda drv: drv.find_element(By.ID, "reconcile-button")).is_enabled()
    d.find_element(By.ID, "chart-days").location_once_scrolled_into_view  # noqa: B018 - scrolls the charts up
    d.save_screenshot(str(ui.shots / "ui-usage.png"))

    # chat-a, told to overcharge (a devnet fault), settles the turn it holds plus the excess: flagged, in red
    handle = ui.net.provider("chat-a")
    handle.faults.set(overcharge=OVERCHARGE)
    try:
        handle.settle_now()
    finally:
        handle.faults.clear()
    d.find_element(By.ID, "reconcile-button").click()
    _wait_fresh(d, lambda drv: "1 provider flagged" in drv.find_element(By.ID, "audit-summary").text)
    row = d.find_element(By.CSS_SELECTOR, f'#audit tr[data-provider="{chat_a}"]')
    assert row.get_attribute("data-status") == "overcharge"
    difference = row.find_element(By.CSS_SELECTOR, ".difference")
    assert difference.text == "+" + _g(OVERCHARGE) and "bad" in str(difference.get_attribute("class"))
    (excess,) = row.find_elements(By.CSS_SELECTOR, ".unexplained")
    assert f"settled {_g(OVERCHARGE)} 0G for requests not made" in excess.text
    d.find_element(By.ID, "reset-filters").click()
    _wait(d, lambda drv: drv.current_url.endswith("/usage"))


def test_the_guard_refuses_other_pages_hosts_and_forged_posts(ui: UI) -> None:
    name = f"zerog_ui_{ui.url.rsplit(':', 1)[1]}"  # the browser's session cookie, named after the port
    cookie = ui.driver.get_cookie(name)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    session = {name: cookie["value"]}
    assert ui.token not in cookie["value"]
    with httpx.Client(base_url=ui.url, timeout=10) as anonymous:
        assert anonymous.get("/providers").status_code == 401  # no session
        assert anonymous.get("/?token=" + "x" * 43).status_code == 401  # a wrong token
    with httpx.Client(base_url=ui.url, timeout=10, cookies=session) as http:
        assert http.get("/providers", headers={"Host": "evil.example:80"}).status_code == 421  # DNS rebinding
        form = {"action": "deposit", "amount": "1"}
        foreign = http.post("/account/confirm", data=form, headers={"Origin": "http://127.0.0.1:1"})
        assert foreign.status_code == 403  # another local page (same site, other port)
        own = {"Origin": ui.url}
        assert http.post("/account/confirm", data=form, headers=own).status_code == 403  # no CSRF token
        form_type = {**own, "Content-Type": "application/x-www-form-urlencoded"}
        assert http.post("/account/confirm", content=b"a=" + b"x" * 70_000, headers=form_type).status_code == 413
        chat = {"target": "pool:zerog-devnet/scripted-chat", "messages": [{"role": "user", "content": "hi"}]}
        assert http.post("/api/chat", json=chat, headers=own).status_code == 403  # no X-ZeroG-CSRF header
        page = http.get("/account")
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["content-security-policy"]


@pytest.mark.anyio
async def test_a_wallet_without_a_ledger_in_process(ui: UI) -> None:
    """``build_app`` in-process for a wallet with no ledger: the page says so and a small deposit is refused."""
    from zerog_compute import AsyncZeroG
    from zerog_compute.webui import build_app

    token = "k" * 43
    async with AsyncZeroG(private_key=ui.net.users[3].private_key, network=devnet_network(ui.net)) as zg:
        app = build_app(zg, token=token, port=3090)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:3090") as browser:
            await browser.get(f"/?token={token}")
            page = await browser.get("/account")
            assert page.status_code == 200 and 'id="ledger-total">none<' in page.text
            csrf = page.text.split('name="zerog-csrf" content="', 1)[1].split('"', 1)[0]
            form = {"csrf": csrf, "action": "deposit", "amount": "2"}
            confirm = await browser.post("/account/confirm", data=form, headers={"Origin": "http://127.0.0.1:3090"})
            assert "creating the ledger needs at least 3 0G" in confirm.text
            sent = await browser.post("/account/execute", data=form, headers={"Origin": "http://127.0.0.1:3090"})
            assert sent.status_code == 409  # the plan's problem stops it: nothing is sent
        with pytest.raises(Exception, match="no ledger"):
            await zg.ledger.get()
