"""The ``zerog`` command, run in-process against the devnet (real chain, real providers).

Each call goes through ``main([...])`` with the environment a user would set (``ZG_NETWORK=devnet``,
``ZG_DEVNET_FILE``, ``ZG_PRIVATE_KEY``); outcomes are checked on the chain through zerog_compute.
No output may ever contain the private key.
"""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import zerog_compute
from zerog_compute import LedgerNotFoundError, ZeroG
from zerog_compute.cli import main
from zerog_compute.cli._errors import cli_message, redact
from zerog_compute.errors import InsufficientBalanceError, NotAcknowledgedError
from zerog_devnet import Devnet

from .conftest import provider

devnet_test = pytest.mark.devnet
NOBODY = "0x000000000000000000000000000000000000dEaD"  # a valid address with no service
QUESTION = "What is 2 + 3?"
ANSWER = "2 + 3 = 5"


class FakeTerminal(io.StringIO):
    """stdin as if a person were typing ``text`` at a terminal."""

    def isatty(self) -> bool:
        return True


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean ZG_* environment; the devnet description path (not written yet)."""
    for name in ("ZG_PRIVATE_KEY", "ZG_NETWORK", "ZG_RPC_URL", "ZG_DEVNET_FILE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "devnet.json"
    monkeypatch.setenv("ZG_DEVNET_FILE", str(path))
    return path


@pytest.fixture
def cli(devnet: Devnet, env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli("account", "--json", stdin="y\\n")``: run zerog as users[0] on the devnet."""
    devnet.write_description(env)
    key = devnet.users[0].private_key
    monkeypatch.setenv("ZG_NETWORK", "devnet")
    monkeypatch.setenv("ZG_PRIVATE_KEY", key)

    def run(*argv: str, stdin: io.StringIO | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", stdin)
        code = main(list(argv))
        out, err = capsys.readouterr()
        for secret in (key, key.removeprefix("0x")):
            assert secret not in out and secret not in err, "the private key was printed"
        return Result(code, out, err)

    return run


@pytest.fixture
def chat_a(devnet: Devnet) -> str:
    return provider(devnet, "chat-a")


@pytest.fixture
def funded(devnet: Devnet) -> Iterator[Devnet]:
    """users[0] with a 10 0G ledger and 2 0G with chat-a."""
    devnet.fund(devnet.users[0], ["chat-a"])
    yield devnet


# ---------------------------------------------------------------------------------------------- no devnet


def test_help_through_the_installed_entry_points() -> None:
    commands = [[sys.executable, "-m", "zerog_compute.cli", "--help"]]
    installed = shutil.which("zerog")
    if installed is not None:
        commands.append([installed, "--help"])
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        for name in ("create-ledger", "providers", "chat", "verify", "api-key", "exit codes"):
            assert name in done.stdout


def test_missing_rich_extra_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # makes `import rich` raise ImportError
    assert main(["networks"]) == 2
    assert "pip install 'zerog-compute[cli]'" in capsys.readouterr().err


def test_core_library_never_imports_rich() -> None:
    # (httpx itself imports rich when it is installed, so sys.modules cannot tell: read the sources)
    package = Path(zerog_compute.__file__).parent
    for path in package.rglob("*.py"):
        if "cli" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "rich" or n.startswith("rich.") for n in names), path
    cli_init = (package / "cli" / "__init__.py").read_text()
    assert "from rich" not in cli_init and "import rich  #" in cli_init  # only the availability check


def test_the_key_is_never_a_command_line_argument(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--private-key", "0x" + "11" * 32, "account"], ["account", "--private-key", "11" * 32]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "<redacted>" in err and "11" * 32 not in err  # refused, and not even echoed back
    assert main(["account"]) == 2
    assert "set the environment variable ZG_PRIVATE_KEY" in capsys.readouterr().err
    assert main(["--key-env", "MY_WALLET", "account"]) == 2
    assert "MY_WALLET" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("abc", "not a plain decimal number"),
        ("-1", "not a plain decimal number"),
        ("1e3", "not a plain decimal number"),
        ("0", "greater than 0"),
        ("0.0000000000000000001", "more than 18 decimals"),
    ],
)
def test_bad_amounts_are_usage_errors(
    env: Path, capsys: pytest.CaptureFixture[str], amount: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZG_PRIVATE_KEY", "0x" + "11" * 32)
    assert main(["--yes", "deposit", amount]) == 2
    out, err = capsys.readouterr()
    assert out == "" and reason in err and err.splitlines()[-1].startswith("zerog: ")
    assert main(["--json", "--yes", "deposit", amount]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "UsageError" and reason in error["message"] and error["exit_code"] == 2


def test_malformed_provider_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "show", "not-an-address"]) == 2
    assert "PROVIDER must be a 0x-prefixed 20-byte address" in capsys.readouterr().err


def test_messages_get_cli_hints_and_lose_secrets() -> None:
    error = InsufficientBalanceError("retrieve funds from sub-accounts first with zg.ledger.retrieve()")
    assert cli_message(error).endswith("with `zerog retrieve`")
    error2 = NotAcknowledgedError(f"fund it with zg.acknowledge({NOBODY!r}, amount=1) or zg.ledger.transfer(p, a)")
    assert f"`zerog acknowledge {NOBODY} --amount 1`" in cli_message(error2)
    key = "0x" + "ab" * 32
    text = redact(f"key {key} and {key[2:]} and token app-sk-eyJhYmMi0x==", [key])
    assert "ab" * 32 not in text and "eyJhYmMi" not in text


# ---------------------------------------------------------------------------------------------- networks, discovery


@devnet_test
def test_networks_lists_devnet_when_described(cli: Run, devnet: Devnet) -> None:
    result = cli("networks", "--json")
    assert result.code == 0
    by_name = {n["name"]: n for n in result.json()}
    assert set(by_name) == {"testnet", "mainnet", "devnet"}
    assert by_name["devnet"]["selected"] and by_name["devnet"]["chain_id"] == devnet.chain_id
    assert by_name["devnet"]["ledger"] == devnet.contracts.ledger and by_name["testnet"]["chain_id"] == 16602
    table = cli("networks").out
    assert devnet.rpc_url in table and "16661" in table


def test_networks_without_a_devnet(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "networks"]) == 0
    assert [n["name"] for n in json.loads(capsys.readouterr().out)] == ["testnet", "mainnet"]


@devnet_test
def test_providers_list(cli: Run, funded: Devnet, chat_a: str, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = {p["provider"]: p for p in cli("providers", "list", "--json").json()}
    assert len(listing) == len(funded.providers)
    a = listing[chat_a]
    assert a["model"] == funded.provider("chat-a").info.model and a["service_type"] == "chatbot"
    assert (a["input_price"], a["output_price"], a["price_unit"]) == ("0.1", "0.2", "per 1M tokens")
    assert a["acknowledged"] is True and a["up"] is True and a["verifiability"] == "TeeML"
    assert listing[provider(funded, "chat-b")]["acknowledged"] is None  # no sub-account
    image = listing[provider(funded, "image")]
    assert (image["input_price"], image["output_price"], image["price_unit"]) == (None, "0.001", "per image")
    speech = listing[provider(funded, "speech")]
    assert (speech["input_price"], speech["output_price"], speech["price_unit"]) == ("0.00001", None, "per second")

    chats = cli("providers", "list", "--type", "chatbot", "--verifiable", "--json").json()
    assert {p["provider"] for p in chats} == {p.address for p in funded.providers if p.service_type == "chatbot"}
    table = cli("providers", "list", "--type", "text-to-image").out
    assert provider(funded, "image") in table and "per image" in table and chat_a not in table

    monkeypatch.delenv("ZG_PRIVATE_KEY")  # discovery works without a key; "acknowledged" is then unknown
    anonymous = cli("providers", "list", "--json", "--no-health")
    assert anonymous.code == 0 and all(p["acknowledged"] is None and p["up"] is None for p in anonymous.json())


@devnet_test
def test_providers_list_shows_a_provider_that_is_down(cli: Run, funded: Devnet, chat_a: str) -> None:
    funded.provider("chat-a").stop()
    try:
        listing = {p["provider"]: p for p in cli("providers", "list", "--json").json()}
        assert listing[chat_a]["up"] is False and listing[provider(funded, "chat-b")]["up"] is True
        account = cli("account", "--json")  # the unsettled fee is unknown, the rest still shows
        assert account.code == 0 and account.json()["sub_accounts"][0]["unsettled_fee"] is None
        assert "—" in cli("account").out
    finally:
        funded.provider("chat-a").restart()


@devnet_test
def test_providers_show(cli: Run, funded: Devnet, chat_a: str) -> None:
    shown = cli("providers", "show", chat_a, "--json").json()
    info = funded.provider("chat-a").info
    assert shown["url"] == info.url and shown["tee_signer_address"] == info.tee_signer
    assert shown["additional_info"]["TEEVerifier"] == "cryptopilot"
    assert [m["id"] for m in shown["models"]] == [info.model] and shown["models_error"] is None
    assert shown["sub_account"]["balance"] == "2"
    table = cli("providers", "show", chat_a).out
    assert "additionalInfo" in table and "Model catalog" in table and info.model in table


@devnet_test
def test_unknown_provider_exits_5(cli: Run) -> None:
    result = cli("providers", "show", NOBODY)
    assert result.code == 5 and f"provider {NOBODY} has no service" in result.err
    assert "`zerog providers list`" in result.err
    result = cli("--json", "--yes", "transfer", NOBODY, "1")
    assert result.code == 5 and result.json()["error"]["type"] == "ServiceNotFoundError"


# ---------------------------------------------------------------------------------------------- funds


@devnet_test
def test_create_deposit_transfer_and_account(cli: Run, zg: ZeroG, devnet: Devnet, chat_a: str) -> None:
    created = cli("create-ledger", "10", "--yes", "--json")
    assert created.code == 0, created.err
    assert created.json()["ledger"]["total"] == "10" and zg.ledger.get().total == 10 * 10**18

    deposited = cli("--yes", "--json", "deposit", "2.5")
    assert deposited.json()["amount_neuron"] == str(25 * 10**17)
    assert zg.ledger.get().total == 125 * 10**17

    moved = cli("--yes", "--json", "transfer", chat_a.lower(), "1.25 0G")  # any address case, a 0G suffix
    assert moved.code == 0
    assert moved.json()["sub_account"]["balance"] == "1.25" and moved.json()["ledger"]["available"] == "11.25"

    assert cli("chat", chat_a, QUESTION).code == 0  # leaves an unsettled fee with the provider
    account = cli("account", "--json").json()
    info, sub = zg.ledger.get(), zg.ledger.sub_account(chat_a)
    assert sub is not None
    assert account["ledger"]["total_neuron"] == str(info.total)
    assert Decimal(account["ledger"]["available"]) == info.available_0g
    assert account["ledger"]["locked_neuron"] == str(info.locked) == str(sub.balance)
    [row] = account["sub_accounts"]
    assert row["provider"] == chat_a and row["balance_neuron"] == str(sub.balance) and row["acknowledged"]
    unsettled = devnet.provider("chat-a").unsettled(devnet.users[0].address)
    assert unsettled > 0 and row["unsettled_fee_neuron"] == str(unsettled)

    table = cli("account").out
    assert "12.5 0G" in table and "11.25 0G" in table and chat_a in table and "1.25" in table


@devnet_test
def test_refund_and_retrieve(cli: Run, zg: ZeroG, funded: Devnet, chat_a: str) -> None:
    refunded = cli("--yes", "--json", "refund", "1")
    assert refunded.code == 0 and zg.ledger.get().total == 9 * 10**18
    retrieved = cli("--yes", "--json", "retrieve", chat_a)
    assert retrieved.code == 0 and retrieved.json()["sub_accounts"][0]["pending_refund"] == "2"
    sub = zg.ledger.sub_account(chat_a)
    assert sub is not None and sub.pending_refund == 2 * 10**18
    too_much = cli("--yes", "--json", "refund", "100")
    assert too_much.code == 4 and too_much.json()["error"]["type"] == "InsufficientBalanceError"
    assert "`zerog retrieve`" in too_much.err


@devnet_test
def test_create_ledger_below_the_minimum_is_refused_before_asking(cli: Run, zg: ZeroG) -> None:
    result = cli("create-ledger", "2", stdin=FakeTerminal("y\n"))
    assert result.code == 2 and "at least 3 0G" in result.err and "Proceed?" not in result.err
    with pytest.raises(LedgerNotFoundError):
        zg.ledger.get()


@devnet_test
def test_moving_funds_without_yes_and_without_a_terminal_is_refused(
    cli: Run, zg: ZeroG, funded: Devnet, chat_a: str
) -> None:
    chat_b = provider(funded, "chat-b")
    before = zg.ledger.get(), zg.ledger.sub_accounts()
    for argv in (
        ["deposit", "1"],
        ["refund", "1"],
        ["create-ledger", "5"],
        ["transfer", chat_b, "1"],
        ["retrieve"],
        ["acknowledge", chat_b, "--amount", "1"],
        ["api-key", "revoke", chat_a, "0"],
        ["api-key", "revoke-all", chat_a],
    ):
        result = cli(*argv)
        assert result.code == 3, argv
        assert result.out == "" and "pass --yes" in result.err and "nothing was sent" in result.err
        as_json = cli("--json", *argv)
        assert as_json.code == 3 and as_json.json()["error"]["type"] == "Refused"
    assert (zg.ledger.get(), zg.ledger.sub_accounts()) == before


@devnet_test
def test_confirmation_on_a_terminal(cli: Run, zg: ZeroG, funded: Devnet) -> None:
    declined = cli("deposit", "1", stdin=FakeTerminal("n\n"))
    assert declined.code == 3 and "Proceed? [y/N]" in declined.err and "Deposit 1 0G" in declined.err
    assert cli("deposit", "1", stdin=FakeTerminal("\n")).code == 3  # the default is no
    assert zg.ledger.get().total == 10 * 10**18
    accepted = cli("deposit", "1", stdin=FakeTerminal("y\n"))
    assert accepted.code == 0 and zg.ledger.get().total == 11 * 10**18
    assert "11 0G" in accepted.out


# ---------------------------------------------------------------------------------------------- acknowledge


@devnet_test
def test_acknowledge(cli: Run, zg: ZeroG, devnet: Devnet, chat_a: str) -> None:
    devnet.fund(devnet.users[0], [])
    missing = cli("acknowledge", chat_a)  # no sub-account and no amount: nothing moves
    assert missing.code == 5 and "`zerog acknowledge PROVIDER --amount 1`" in missing.err
    done = cli("--yes", "--json", "acknowledge", chat_a, "--amount", "1")
    assert done.code == 0 and done.json()["sub_account"]["acknowledged"] is True
    sub = zg.ledger.sub_account(chat_a)
    assert sub is not None and sub.acknowledged and sub.balance == 10**18
    again = cli("acknowledge", chat_a)  # already acknowledged: no confirmation, no transfer
    assert again.code == 0 and "acknowledged" in again.out


# ---------------------------------------------------------------------------------------------- chat, verify


@devnet_test
def test_chat_one_shot_streams_then_prints_a_footer(cli: Run, funded: Devnet, chat_a: str) -> None:
    result = cli("chat", chat_a, QUESTION)
    assert result.code == 0, result.err
    assert result.out == ANSWER + "\n"
    footer = result.err.strip().splitlines()[-1]
    assert chat_a in footer and "fee 0.00000" in footer and footer.endswith("verified")

    whole = cli("chat", chat_a, QUESTION, "--no-stream", "--system", "Answer briefly.")
    assert whole.code == 0 and whole.out == ANSWER + "\n"


@devnet_test
def test_chat_json_and_verify(cli: Run, funded: Devnet, chat_a: str) -> None:
    reply = cli("--json", "chat", chat_a, QUESTION)
    assert reply.code == 0
    data = reply.json()
    assert data["content"] == ANSWER and data["provider"] == chat_a and int(data["fee_neuron"]) > 0
    assert data["verification"]["verdict"] == "verified" and data["verification"]["content_bound"] is True

    verified = cli("verify", chat_a, data["chat_id"], "--json")
    assert verified.code == 0 and verified.json()["verdict"] == "verified"
    assert verified.json()["recovered_signer"] == funded.provider("chat-a").info.tee_signer
    table = cli("verify", chat_a, data["chat_id"]).out
    assert "verified" in table and funded.provider("chat-a").info.tee_signer in table

    unknown = cli("verify", chat_a, "no-such-chat")
    assert unknown.code == 5 and "unavailable" in unknown.out and "verification failed" in unknown.err


@devnet_test
def test_chat_reads_the_message_from_a_pipe(cli: Run, funded: Devnet, chat_a: str) -> None:
    result = cli("chat", chat_a, stdin=io.StringIO(QUESTION + "\n"))
    assert result.code == 0 and result.out == ANSWER + "\n"
    assert cli("chat", chat_a, stdin=io.StringIO("")).code == 2


@devnet_test
def test_chat_session_on_a_terminal_keeps_history(cli: Run, funded: Devnet, chat_a: str) -> None:
    session = cli("chat", chat_a, stdin=FakeTerminal(f"{QUESTION}\n\nWhat is 6 times 7?\n/exit\nnever sent\n"))
    assert session.code == 0
    assert ANSWER in session.out and "42" in session.out and "never sent" not in session.out
    assert session.err.count("verified") == 2
    assert cli("--json", "chat", chat_a, stdin=FakeTerminal("hi\n")).code == 2  # a session is not JSON


@devnet_test
def test_chat_without_funds_says_what_to_run(cli: Run, devnet: Devnet, chat_a: str) -> None:
    result = cli("--json", "chat", chat_a, QUESTION)
    assert result.code == 5 and result.json()["error"]["type"] == "NotAcknowledgedError"
    assert f"`zerog acknowledge {chat_a} --amount 1`" in result.err


# ---------------------------------------------------------------------------------------------- api keys


def _call_with(net: Devnet, key: str) -> httpx.Response:
    info = net.provider("chat-a").info
    body = {"model": info.model, "messages": [{"role": "user", "content": QUESTION}]}
    return httpx.post(f"{info.url}/v1/proxy/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


@devnet_test
def test_api_key_create_and_revoke(cli: Run, zg: ZeroG, funded: Devnet, chat_a: str) -> None:
    created = cli("api-key", "create", chat_a)
    assert created.code == 0
    key = created.out.strip()  # the key alone on stdout, what it is on stderr
    assert key.startswith("app-sk-") and "app-sk-" not in created.err and "api-key revoke" in created.err
    assert _call_with(funded, key).status_code == 200

    second = cli("--json", "api-key", "create", chat_a, "--token-id", "7", "--expires-in", "3600").json()
    assert second["token_id"] == 7 and second["expires_at"] > second["created_at"]
    assert second["key"].startswith("app-sk-")

    revoked = cli("--yes", "api-key", "revoke", chat_a, "0")
    assert revoked.code == 0 and "app-sk-" not in revoked.out + revoked.err
    assert "revoked" in _call_with(funded, key).json()["error"]
    sub = zg.ledger.sub_account(chat_a)
    assert sub is not None and sub.revoked_bitmap == 1

    reused = cli("api-key", "create", chat_a, "--token-id", "0")
    assert reused.code == 2 and "revoked" in reused.err

    generation = sub.generation
    assert cli("--yes", "api-key", "revoke-all", chat_a).code == 0
    after = zg.ledger.sub_account(chat_a)
    assert after is not None and after.generation == generation + 1
    assert _call_with(funded, second["key"]).status_code != 200


# ---------------------------------------------------------------------------------------------- errors


@devnet_test
def test_json_errors_are_one_document_on_stdout(cli: Run) -> None:
    result = cli("account", "--json")
    assert result.code == 4
    error = result.json()["error"]
    assert error["type"] == "LedgerNotFoundError" and error["exit_code"] == 4
    assert "`zerog create-ledger AMOUNT`" in error["message"]
    assert result.err.strip() == f"zerog: {error['message']}"


@devnet_test
def test_unexpected_errors_exit_1_with_a_traceback_only_with_v(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from zerog_compute.cli import _providers

    def broken(_session: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(_providers, "networks", broken)
    quiet = cli("networks")
    assert quiet.code == 1 and quiet.err == "zerog: unexpected error: RuntimeError: boom\n"
    loud = cli("-v", "networks")
    assert loud.code == 1 and "Traceback" in loud.err
