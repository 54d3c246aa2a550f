"""``zerog doctor``: the judgments (pure, no network) and the command against the devnet (real chain, real providers).

The devnet tests run ``main(["doctor", ...])`` as a user would, then show the doctor each failure it must name: a
wrong RPC URL, an RPC of another chain, an address without contract code, a provider that is down (stopped, and a
registered URL that refuses), an unfunded wallet; and ``--spend``'s fee and verdict.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zerog_compute import Network, Service, VerificationResult, ZeroG
from zerog_compute.cli import main
from zerog_compute.cli._doctor import exit_code
from zerog_compute.doctor import DoctorReport, diagnose
from zerog_compute.doctor_checks import (
    Check,
    ProviderStatus,
    SpendResult,
    Status,
    display_url,
    judge_balance,
    judge_chain_id,
    judge_code,
    judge_provider,
    judge_spend,
    probe_target,
    provider_mode,
)
from zerog_compute.networks import TESTNET
from zerog_compute.verification import AttestationReport, Verdict
from zerog_devnet import Devnet
from zerog_devnet.anvil import free_port
from zerog_devnet.chain import ServiceRegistration, additional_info, register_provider

NOBODY = "0x000000000000000000000000000000000000dEaD"  # a valid address without code
SIGNER = "0x4aF126598417209bFa57bab856963c42C2fee5Db"
TARGET = "0x037BBe29C2766243A070a4b3cbf3891767097308"


# ---------------------------------------------------------------------------------------------- pure judgments


def service(**changes: Any) -> Service:
    fields: dict[str, Any] = {
        "provider": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "service_type": "chatbot",
        "url": "https://provider.example:8443",
        "input_price": 1,
        "output_price": 2,
        "updated_at": 0,
        "model": "m",
        "verifiability": "TeeML",
        "additional_info": additional_info(SIGNER),
        "tee_signer_address": SIGNER,
        "tee_signer_acknowledged": True,
    }
    return Service(**{**fields, **changes})


def status(**changes: Any) -> ProviderStatus:
    base = service()
    attestation = AttestationReport(expected_signer=SIGNER, signer_in_report=SIGNER, matches=True)
    fields: dict[str, Any] = {
        "provider": base.provider,
        "service_type": "chatbot",
        "model": "m",
        "url": base.url,
        "mode": provider_mode(base),
        "reachable": True,
        "latency_ms": 12.0,
        "models": ["m"],
        "attestation": attestation,
    }
    return ProviderStatus(**{**fields, **changes})


def test_display_url_never_shows_paths_queries_or_user_info() -> None:
    assert display_url("https://evmrpc-testnet.0g.ai") == "https://evmrpc-testnet.0g.ai"
    assert display_url("https://rpc.example/v2/SECRETKEY") == "https://rpc.example/…"
    assert display_url("https://user:pw@rpc.example:8545?key=SECRET") == "https://rpc.example:8545/…"
    assert "SECRET" not in display_url("http://[::1:bad/SECRET")


def test_modes_are_read_from_additional_info() -> None:
    plain = provider_mode(service())
    assert (plain.label, plain.provider_type, plain.signer, plain.problems) == ("TeeML", "decentralized", SIGNER, [])
    tls_info = additional_info(SIGNER, extra={"ProviderType": "centralized", "ProviderIdentity": "api.openai.com"})
    tls = provider_mode(service(additional_info=tls_info))
    assert (tls.kind, tls.identity, tls.signer) == ("TeeTLS", "api.openai.com", SIGNER)
    separated = provider_mode(service(additional_info=additional_info(TARGET, separated=True)))
    assert (separated.label, separated.signer) == ("TeeML separated", TARGET)
    odd = provider_mode(service(additional_info=additional_info(SIGNER, extra={"ProviderType": "federated"})))
    assert odd.provider_type == "decentralized" and "unknown ProviderType" in odd.notes[0]
    anonymous = provider_mode(service(additional_info=additional_info(SIGNER, extra={"ProviderType": "centralized"})))
    assert "ProviderIdentity" in anonymous.notes[0] and not anonymous.problems


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"additional_info": "{not json"}, "not valid JSON"),
        ({"tee_signer_acknowledged": False}, "not acknowledged"),
        ({"verifiability": ""}, "not verifiable"),
    ],
)
def test_unverifiable_providers_fail_their_line(changes: dict[str, Any], problem: str) -> None:
    mode = provider_mode(service(**changes))
    assert problem in mode.problems[0]
    check = judge_provider(status(mode=mode), devnet=False)
    assert check.status is Status.fail and problem in check.detail and check.fix


def test_probes_go_only_to_the_registered_origin_and_never_into_the_lan() -> None:
    assert probe_target("https://p.example/base/", "/v1/models", local_ok=False) == (
        "https://p.example/base/v1/models",
        None,
    )
    for url in ("ftp://p.example", "http://user:pw@p.example", "http://p.example/\x00"):
        assert probe_target(url, "/v1/models", local_ok=False)[0] is None
    for url in (
        "http://127.0.0.1:8080",
        "http://169.254.169.254",
        "http://10.0.0.7",
        "http://localhost",
        "http://[::1]",
    ):
        target, why = probe_target(url, "/v1/models", local_ok=False)
        assert target is None and "your own machine or network" in str(why)
    assert probe_target("http://127.0.0.1:8080", "/v1/models", local_ok=True)[0] == "http://127.0.0.1:8080/v1/models"


def test_chain_judgments_say_what_is_wrong_and_what_to_do() -> None:
    mismatch = judge_chain_id(TESTNET, 16661, None)
    assert mismatch.status is Status.fail and "16661 (mainnet)" in mismatch.detail and "--network" in str(mismatch.fix)
    down = judge_chain_id(TESTNET.with_rpc("https://rpc.example/KEY"), None, "ConnectError")
    assert down.status is Status.fail and "KEY" not in down.detail and "evmrpc-testnet.0g.ai" in str(down.fix)
    assert judge_chain_id(TESTNET, TESTNET.chain_id, None).status is Status.ok
    assert judge_code(TESTNET, "ledger", NOBODY, "0x", None).status is Status.fail
    assert judge_code(TESTNET, "ledger", NOBODY, "0x6080", None).status is Status.ok


def test_wallet_judgments() -> None:
    empty = judge_balance(TESTNET, NOBODY, 0, None)
    assert empty.status is Status.fail and "faucet" in str(empty.fix)
    assert judge_balance(TESTNET, None, None, None).fix and "ZG_PRIVATE_KEY" in str(
        judge_balance(TESTNET, None, None, None).fix
    )
    assert judge_balance(TESTNET, NOBODY, 1, None).status is Status.ok


def test_provider_judgments() -> None:
    assert judge_provider(status(), devnet=False).status is Status.ok
    down = judge_provider(status(reachable=False, probe_error="unreachable (ConnectError)", models=[]), devnet=False)
    assert down.status is Status.fail and "down: unreachable" in down.detail and "retry later" in str(down.fix)
    stray = judge_provider(status(models=["other"]), devnet=False)
    assert stray.status is Status.fail and "on-chain model" in stray.detail
    wrong = AttestationReport(expected_signer=SIGNER, signer_in_report=TARGET, matches=False, note="binds another")
    assert judge_provider(status(attestation=wrong), devnet=False).status is Status.fail
    mock = AttestationReport(expected_signer=SIGNER, signer_in_report=SIGNER, matches=True, is_devnet_mock=True)
    assert judge_provider(status(attestation=mock), devnet=True).status is Status.ok
    assert "mock" in judge_provider(status(attestation=mock), devnet=False).detail
    assert judge_provider(status(attestation=mock), devnet=False).status is Status.fail


def test_spend_judgments() -> None:
    verified = VerificationResult(verdict=Verdict.verified, chat_id="c", provider="p")
    ok = judge_spend(SpendResult(provider="p", model="m", chat_id="c", fee=3_400_000_000_000, verification=verified))
    assert ok.status is Status.ok and "fee 0.0000034 0G" in ok.detail and "verified" in ok.detail
    bad = VerificationResult(verdict=Verdict.content_mismatch, chat_id="c", provider="p", detail="hash differs")
    refused = judge_spend(SpendResult(provider="p", model="m", chat_id="c", fee=1, verification=bad))
    assert (
        refused.status is Status.fail
        and "content_mismatch" in refused.detail
        and "zerog verify p c" in str(refused.fix)
    )
    assert judge_spend(SpendResult(error="no funded sub-account")).status is Status.fail


def test_exit_codes_follow_the_failing_area() -> None:
    def report(*areas: str) -> DoctorReport:
        checks = [Check(area=a, name=a, status=Status.fail, detail="x") for a in areas]  # type: ignore[arg-type]
        return DoctorReport(network="n", chain_id=1, rpc="r", address=None, checks=checks)

    assert exit_code(report()) == 0
    assert exit_code(report("provider", "spend")) == 5
    assert exit_code(report("provider", "wallet")) == 4


# ---------------------------------------------------------------------------------------------- against the devnet


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.json()["checks"]}


Run = Callable[..., Result]


@pytest.fixture
def doctor(devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``doctor("--spend", key=..., description=...)``: ``zerog doctor --json ...`` on the devnet as users[0]
    (``table=True``: without ``--json``)."""
    for name in ("ZG_PRIVATE_KEY", "ZG_RPC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZG_NETWORK", "devnet")

    def run(
        *argv: str,
        key: str | None = devnet.users[0].private_key,
        description: dict[str, Any] | None = None,
        table: bool = False,
    ) -> Result:
        path = tmp_path / "devnet.json"
        path.write_text(json.dumps(description or devnet.describe()))
        monkeypatch.setenv("ZG_DEVNET_FILE", str(path))
        if key is not None:
            monkeypatch.setenv("ZG_PRIVATE_KEY", key)
        else:
            monkeypatch.delenv("ZG_PRIVATE_KEY", raising=False)
        code = main(["doctor", *argv] if table else ["doctor", "--json", *argv])
        out, err = capsys.readouterr()
        if key is not None:
            assert key.removeprefix("0x") not in out + err, "the private key was printed"
        return Result(code, out, err)

    return run


def reregister(net: Devnet, name: str, info: str) -> None:
    """Register provider ``name`` again, same URL and signer, with another ``additionalInfo``."""
    p = net.provider(name).info
    registration = ServiceRegistration(
        p.service_type, p.url, p.model, "TeeML", p.input_price, p.output_price, info, p.tee_signer
    )
    register_provider(net.w3, net.contracts, p.address, registration, acknowledge=True)


@pytest.mark.devnet
def test_doctor_passes_on_the_devnet_with_every_provider_kind(devnet: Devnet, doctor: Run) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    centralized = {"ProviderType": "centralized", "ProviderIdentity": "api.upstream.example"}
    reregister(devnet, "chat-b", additional_info(devnet.provider("chat-b").info.tee_signer, extra=centralized))
    reregister(devnet, "chat-c", additional_info(devnet.users[4].address, separated=True))
    result = doctor()
    assert result.code == 0, result.out
    document = result.json()
    assert document["ok"] and document["summary"]["fail"] == 0
    lines = result.lines()
    assert {"RPC", "ledger contract", "inference contract", "wallet", "ledger"} <= set(lines)
    modes = {p["provider"]: p["mode"] for p in document["providers"]}
    assert {p.address for p in devnet.providers} <= set(modes)
    assert modes[devnet.provider("chat-a").info.address]["kind"] == "TeeML"
    tls = modes[devnet.provider("chat-b").info.address]
    assert (tls["kind"], tls["identity"]) == ("TeeTLS", "api.upstream.example")
    separated = modes[devnet.provider("chat-c").info.address]
    assert separated["separated"] and separated["signer"] == devnet.users[4].address
    for p in document["providers"]:
        assert p["reachable"] and p["attestation"]["matches"] and p["latency_ms"] is not None
    (model_tee,) = [p for p in document["providers"] if p["provider"] == devnet.provider("separated").info.address]
    assert model_tee["model_attestation"]["matches"]  # the model TEE's own report binds TargetTeeAddress


@pytest.mark.devnet
def test_doctor_prints_a_table_with_a_mark_and_a_fix_per_line(devnet: Devnet, doctor: Run) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    devnet.provider("chat-c").stop()
    result = doctor(table=True)
    assert result.code == 5
    rows = [line for line in result.out.splitlines() if line[:1] in ("✓", "✗", "!")]  # !: a warning
    assert len(rows) == 6 + len(devnet.providers)  # RPC, 3 contracts, wallet, ledger, then one per provider
    down = [row for row in rows if row.startswith("✗")]
    assert len(down) == 1 and devnet.provider("chat-c").info.address in down[0] and "retry later" in down[0]
    assert "1 failed" in result.err


@pytest.mark.devnet
def test_doctor_names_a_broken_rpc(devnet: Devnet, doctor: Run) -> None:
    refused = doctor("--rpc", f"http://127.0.0.1:{free_port()}/secret-path")
    assert refused.code == 4
    rpc = refused.lines()["RPC"]
    assert rpc["status"] == "fail" and "did not answer" in rpc["detail"] and "--rpc" in rpc["fix"]
    assert "secret-path" not in refused.out
    assert refused.lines()["everything else"]["status"] == "skipped"
    other_chain = doctor(description={**devnet.describe(), "chain_id": 16602})
    assert other_chain.code == 4
    rpc = other_chain.lines()["RPC"]
    assert "serves chain id 31337" in rpc["detail"] and "is chain id 16602" in rpc["detail"]


@pytest.mark.devnet
def test_doctor_names_a_missing_contract(devnet: Devnet, doctor: Run) -> None:
    described = devnet.describe()
    described["contracts"] = {**described["contracts"], "ledger": NOBODY}
    result = doctor(description=described)
    assert result.code == 4
    lines = result.lines()
    assert (
        lines["ledger contract"]["status"] == "fail"
        and f"no contract code at {NOBODY}" in lines["ledger contract"]["detail"]
    )
    assert lines["inference contract"]["status"] == "ok"
    assert lines["ledger"]["status"] == "skipped"


@pytest.mark.devnet
def test_doctor_names_providers_that_are_down(devnet: Devnet, doctor: Run) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    devnet.provider("chat-b").stop()
    refusing = devnet.register_external("gone", f"http://127.0.0.1:{free_port()}")
    result = doctor()
    assert result.code == 5
    lines = result.lines()
    for address in (devnet.provider("chat-b").info.address, refusing.address):
        assert lines[address]["status"] == "fail"
        assert "down: unreachable" in lines[address]["detail"] and "retry later" in lines[address]["fix"]
    assert lines[devnet.provider("chat-a").info.address]["status"] == "ok"
    only = doctor("--provider", devnet.provider("chat-a").info.address)
    assert only.code == 0 and len(only.json()["providers"]) == 1


@pytest.mark.devnet
def test_doctor_names_an_unfunded_wallet(devnet: Devnet, doctor: Run) -> None:
    fresh = doctor("--spend", key="0x" + secrets.token_hex(32))
    assert fresh.code == 4
    lines = fresh.lines()
    assert lines["wallet"]["status"] == "fail" and "holds 0 0G" in lines["wallet"]["detail"]
    assert lines["ledger"]["status"] == "fail" and "zerog create-ledger 3" in lines["ledger"]["fix"]
    assert lines["paid request"]["status"] == "fail" and "zerog acknowledge" in lines["paid request"]["fix"]
    keyless = doctor(key=None)
    assert keyless.code == 4 and "ZG_PRIVATE_KEY" in keyless.lines()["wallet"]["fix"]


@pytest.mark.devnet
def test_doctor_spend_reports_fee_and_verdict(devnet: Devnet, doctor: Run) -> None:
    user = devnet.users[0]
    devnet.fund(user, ["chat-a"])
    result = doctor("--spend")
    assert result.code == 0, result.out
    spend = result.json()["spend"]
    chat_a = devnet.provider("chat-a")
    assert spend["provider"] == chat_a.info.address and spend["verification"]["verdict"] == "verified"
    assert int(spend["fee_neuron"]) > 0 and int(spend["fee_neuron"]) == chat_a.unsettled(user.address)
    assert result.lines()["paid request"]["status"] == "ok"


def test_a_separated_providers_model_report_is_checked_against_its_target() -> None:
    mode = provider_mode(service(additional_info=additional_info(TARGET, separated=True)))
    bound = AttestationReport(expected_signer=TARGET, signer_in_report=TARGET, matches=True)
    assert judge_provider(status(mode=mode, model_attestation=bound), devnet=False).status is Status.ok
    other = AttestationReport(expected_signer=TARGET, signer_in_report=SIGNER, matches=False, note="binds another")
    assert judge_provider(status(mode=mode, model_attestation=other), devnet=False).status is Status.fail
    missing = judge_provider(status(mode=mode, model_attestation_error="HTTP 404"), devnet=False)
    assert missing.status is Status.warn and "model TEE report unavailable: HTTP 404" in missing.detail


@pytest.mark.devnet
def test_diagnose_outside_the_devnet_never_contacts_loopback_providers(devnet: Devnet) -> None:
    """The library call, on the devnet's chain under another name: every provider is on 127.0.0.1, so none is
    contacted (a registration must not aim the doctor into the user's machine or LAN)."""
    network = Network(
        name="elsewhere",
        chain_id=devnet.chain_id,
        rpc_url=devnet.rpc_url,
        ledger=devnet.contracts.ledger,
        inference=devnet.contracts.inference,
    )
    with ZeroG(private_key=devnet.users[0].private_key, network=network) as zg:
        report = diagnose(zg, timeout=5)
    assert report.providers and all(p.reachable is None and p.attestation is None for p in report.providers)
    for line in (c for c in report.checks if c.area == "provider"):
        assert line.status is Status.fail and "points into your own machine or network (127.0.0.1)" in line.detail


@pytest.mark.devnet
def test_a_provider_that_never_answers_is_down_after_the_timeout(devnet: Devnet, doctor: Run) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        external = devnet.register_external("silent", f"http://127.0.0.1:{silent.getsockname()[1]}")
        result = doctor("--timeout", "2", "--provider", external.address)
    assert result.code == 5
    line = result.lines()[external.address]
    assert line["status"] == "fail" and "down: unreachable (ReadTimeout)" in line["detail"]
