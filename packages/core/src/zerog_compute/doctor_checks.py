"""The judgments behind ``zerog doctor``: what was observed → a :class:`Check` with a ✓/✗ and what to do.

Pure functions (no I/O): :mod:`zerog_compute.doctor` gathers the observations (RPC, ledger, providers, a
paid request) and hands them here, so every verdict and every hint is unit-tested without a network.
"""

from __future__ import annotations

import ipaddress
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from ._origin import on_origin, origin
from .ledger import LedgerInfo
from .networks import NETWORKS, Network
from .services import Service
from .units import format_0g
from .verification import AttestationReport, Verdict, VerificationResult, expected_signer, verifiability_problem

__all__ = [
    "Area",
    "Check",
    "ProviderMode",
    "ProviderStatus",
    "SpendResult",
    "Status",
    "display_url",
    "judge_balance",
    "judge_chain_id",
    "judge_code",
    "judge_ledger",
    "judge_provider",
    "judge_spend",
    "probe_target",
    "provider_mode",
    "spend_candidate",
    "summary",
]

Area = Literal["chain", "wallet", "provider", "spend"]
FAUCET = "https://faucet.0g.ai"
CENTRALIZED = "centralized"
DECENTRALIZED = "decentralized"


class Status(str, Enum):
    """One line's outcome; only ``fail`` makes ``zerog doctor`` exit non-zero."""

    ok = "ok"
    warn = "warn"
    fail = "fail"
    skipped = "skipped"


class Check(BaseModel):
    """One line of the doctor's table: what was checked, what was found and, unless it passed, what to do."""

    model_config = ConfigDict(frozen=True)

    area: Area
    name: str
    status: Status
    detail: str
    fix: str | None = None


class ProviderMode(BaseModel):
    """How a provider's answers can be verified, read from its on-chain record and ``additionalInfo``.

    ``kind``: ``TeeML`` (the model runs in the TEE), ``TeeTLS`` (``ProviderType: centralized``: a TEE broker
    relays over TLS to a centralized API and signs a routing proof), else the on-chain verifiability as is.
    ``separated``: ``TargetSeparated`` is JSON ``true`` (the model's own TEE signs, ``TargetTeeAddress``).
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    provider_type: str
    separated: bool = False
    signer: str | None = None
    identity: str | None = None
    problems: list[str] = Field(default_factory=list)
    """Why answers of this provider cannot be verified (a ✗)."""
    notes: list[str] = Field(default_factory=list)
    """Oddities that do not stop verification (shown, not failed)."""

    @property
    def label(self) -> str:
        return self.kind + (" separated" if self.separated else "")


class ProviderStatus(BaseModel):
    """What the doctor learned about one provider."""

    model_config = ConfigDict(frozen=True)

    provider: str
    service_type: str
    model: str
    url: str
    mode: ProviderMode
    reachable: bool | None = None
    """``GET /v1/models`` answered 200 with a catalog (None: not contacted)."""
    latency_ms: float | None = None
    models: list[str] = Field(default_factory=list)
    probe_error: str | None = None
    attestation: AttestationReport | None = None
    attestation_error: str | None = None
    model_attestation: AttestationReport | None = None
    """Separated providers: the model TEE's report (``/v1/proxy/attestation/report``) against ``TargetTeeAddress``."""
    model_attestation_error: str | None = None
    sub_account_balance: int | None = None
    acknowledged: bool | None = None


class SpendResult(BaseModel):
    """The one paid request of ``--spend``."""

    model_config = ConfigDict(frozen=True)

    provider: str | None = None
    model: str | None = None
    chat_id: str | None = None
    fee: int | None = None
    verification: VerificationResult | None = None
    error: str | None = None


# ---------------------------------------------------------------------------------------------- chain


def display_url(url: str) -> str:
    """``url`` safe to print: scheme, host and port only (paths, queries and user info often hold API keys)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme or not parts.hostname:
        return "<unparsable URL>"
    shown = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
    hidden = (parts.path not in ("", "/")) or parts.query or parts.fragment or parts.username
    return shown + ("/…" if hidden else "")


def _known_chain(chain_id: int) -> str:
    names = [n.name for n in NETWORKS.values() if n.chain_id == chain_id]
    return f" ({names[0]})" if names else ""


def judge_chain_id(network: Network, reported: int | None, error: str | None) -> Check:
    """The RPC answers, and serves the network's chain."""
    rpc = display_url(network.rpc_url)
    if reported is None:
        return Check(
            area="chain",
            name="RPC",
            status=Status.fail,
            detail=f"{rpc} did not answer eth_chainId: {error}",
            fix=f"check the URL (--rpc / $ZG_RPC_URL) and your connection; {network.name}'s own RPC is "
            f"{display_url(_default_rpc(network))}",
        )
    if reported != network.chain_id:
        return Check(
            area="chain",
            name="RPC",
            status=Status.fail,
            detail=f"{rpc} serves chain id {reported}{_known_chain(reported)}, "
            f"but {network.name} is chain id {network.chain_id}",
            fix="use an RPC of the network you chose (--rpc), or choose the network this RPC serves (--network)",
        )
    return Check(area="chain", name="RPC", status=Status.ok, detail=f"{rpc} serves chain id {reported}")


def _default_rpc(network: Network) -> str:
    known = NETWORKS.get(network.name)
    return known.rpc_url if known is not None else network.rpc_url


def judge_code(network: Network, contract: str, address: str, code: str | None, error: str | None) -> Check:
    """A contract of the network has code at its address on this chain."""
    name = f"{contract} contract"
    if code is None:
        return Check(
            area="chain",
            name=name,
            status=Status.fail,
            detail=f"could not read the code at {address}: {error}",
            fix="check the RPC (the line above); retry later if it is overloaded",
        )
    size = (len(code) - 2) // 2 if code.startswith("0x") else len(code) // 2
    if size <= 0:
        return Check(
            area="chain",
            name=name,
            status=Status.fail,
            detail=f"no contract code at {address} on {network.name} (chain id {network.chain_id})",
            fix="the RPC serves another chain, or these addresses are stale: check `zerog networks`, upgrade "
            "zerog-compute, or restart the devnet (`zerog-devnet up`) for network devnet",
        )
    return Check(area="chain", name=name, status=Status.ok, detail=f"{address} ({size} bytes of code)")


# ---------------------------------------------------------------------------------------------- wallet


def judge_balance(network: Network, address: str | None, balance: int | None, error: str | None) -> Check:
    """The wallet exists (a key is set) and holds 0G for gas and deposits."""
    if address is None:
        return Check(
            area="wallet",
            name="wallet",
            status=Status.fail,
            detail="no private key is set",
            fix="set $ZG_PRIVATE_KEY (or the variable --key-env names) to your wallet's key",
        )
    if balance is None:
        return Check(area="wallet", name="wallet", status=Status.fail, detail=f"{address}: {error}", fix=_rpc_fix())
    if balance == 0:
        faucet = f" (testnet faucet: {FAUCET})" if network.name == "testnet" else ""
        return Check(
            area="wallet",
            name="wallet",
            status=Status.fail,
            detail=f"{address} holds 0 0G on {network.name}",
            fix=f"send 0G to {address}{faucet}: it pays gas and the ledger (at least 3 0G to open one)",
        )
    return Check(area="wallet", name="wallet", status=Status.ok, detail=f"{address} holds {format_0g(balance)}")


def _rpc_fix() -> str:
    return "check the RPC line above; retry later if it is overloaded"


def judge_ledger(ledger: LedgerInfo | None, missing: bool, error: str | None) -> Check:
    """The wallet has a ledger on the network's ledger contract."""
    if missing:
        return Check(
            area="wallet",
            name="ledger",
            status=Status.fail,
            detail="this wallet has no ledger yet",
            fix="open one with `zerog create-ledger 3` (3 0G is the minimum), then `zerog acknowledge PROVIDER "
            "--amount 1` for each provider you use",
        )
    if ledger is None:
        return Check(area="wallet", name="ledger", status=Status.fail, detail=f"{error}", fix=_rpc_fix())
    detail = (
        f"{format_0g(ledger.total)} in all, {format_0g(ledger.available)} available, "
        f"{format_0g(ledger.locked)} in sub-accounts"
    )
    if ledger.total == 0:
        return Check(
            area="wallet", name="ledger", status=Status.warn, detail=detail, fix="deposit with `zerog deposit AMOUNT`"
        )
    return Check(area="wallet", name="ledger", status=Status.ok, detail=detail)


# ---------------------------------------------------------------------------------------------- providers


def provider_mode(service: Service) -> ProviderMode:
    """The verifiability mode of ``service``, from its ``additionalInfo`` read generically (any key may be absent)."""
    info = service.info
    raw_type = info.get("ProviderType")
    provider_type = raw_type.lower() if isinstance(raw_type, str) and raw_type else DECENTRALIZED
    notes: list[str] = []
    if provider_type not in (CENTRALIZED, DECENTRALIZED):
        notes.append(f"unknown ProviderType {str(raw_type)[:40]!r}, read as decentralized (like the TS SDK)")
        provider_type = DECENTRALIZED
    separated = info.get("TargetSeparated") is True
    kind = "TeeTLS" if provider_type == CENTRALIZED else service.verifiability or "none"
    identity = info.get("ProviderIdentity")
    identity = identity[:200] if isinstance(identity, str) and identity else None
    problems: list[str] = []
    problem = verifiability_problem(service)
    if problem is not None:
        problems.append(problem)
    signer = expected_signer(service)
    if problem is None and signer is None:
        problems.append("the service names no valid signer address (teeSignerAddress / TargetTeeAddress)")
    if separated and provider_type == DECENTRALIZED and not info.get("TargetTeeAddress"):
        notes.append("TargetSeparated without a TargetTeeAddress: the broker's signer is expected")
    if provider_type == CENTRALIZED and identity is None:
        notes.append("centralized without a ProviderIdentity: its routing proofs name an identity nobody registered")
    return ProviderMode(
        kind=kind,
        provider_type=provider_type,
        separated=separated,
        signer=signer,
        identity=identity,
        problems=problems,
        notes=notes,
    )


def probe_target(service_url: str, path: str, *, local_ok: bool) -> tuple[str | None, str | None]:
    """The URL to fetch ``path`` of a provider at, or why it must not be contacted.

    Only the provider's own registered origin (:func:`zerog_compute._origin.on_origin`: http(s), no user info,
    no control characters). Outside a local devnet, an origin that is a loopback, private, link-local or
    reserved IP literal (or ``localhost``) is refused too: a registration must not aim the doctor into your LAN.
    """
    own = origin(service_url)
    if own is None:
        return None, "its registered URL is not a plain http(s) URL; not contacted"
    host = own[1]
    if not local_ok and _private_host(host):
        return None, f"its registered URL points into your own machine or network ({host}); not contacted"
    target = on_origin(service_url.rstrip("/") + path, service_url)
    if target is None:
        return None, "its registered URL cannot carry a path; not contacted"
    return target, None


def _private_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def judge_provider(status: ProviderStatus, *, devnet: bool) -> Check:
    """One provider's line: reachable, verifiable, attested, and (for you) funded."""
    problems, fixes = _provider_problems(status, devnet=devnet)
    warnings = _model_attestation_warnings(status)
    parts = [status.mode.label, status.service_type, status.model]
    if status.reachable:
        count = len(status.models)
        parts.append(f"/v1/models {status.latency_ms or 0:.0f} ms ({count} model{'' if count == 1 else 's'})")
    if status.attestation is not None and status.attestation.matches:
        parts.append("quote binds the TEE signer" + (" (devnet mock)" if status.attestation.is_devnet_mock else ""))
    if status.model_attestation is not None and status.model_attestation.matches:
        parts.append("the model TEE's report binds TargetTeeAddress")
    if status.sub_account_balance is not None:
        ack = "acknowledged" if status.acknowledged else "not acknowledged"
        parts.append(f"your sub-account {format_0g(status.sub_account_balance)}, {ack}")
    parts += status.mode.notes
    detail = " · ".join(parts + problems + warnings)
    if warnings and not problems:
        fix = "its answers still verify against TargetTeeAddress; ask its operator to publish the model TEE's report"
        return Check(area="provider", name=status.provider, status=Status.warn, detail=detail, fix=fix)
    if problems:
        return Check(
            area="provider",
            name=status.provider,
            status=Status.fail,
            detail=detail,
            fix="; ".join(dict.fromkeys(fixes)),
        )
    return Check(area="provider", name=status.provider, status=Status.ok, detail=detail)


def _provider_problems(status: ProviderStatus, *, devnet: bool) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    fixes: list[str] = []
    other = "use another provider (`zerog providers list`) or ask its operator"
    if status.reachable is None:
        problems.append(status.probe_error or "not contacted")
        fixes.append(other)
    elif not status.reachable:
        problems.append(f"down: {status.probe_error or 'no answer'}")
        fixes.append(f"it does not serve requests now: retry later or {other}")
    elif status.model not in status.models:
        problems.append(f"its catalog does not list its on-chain model {status.model!r}")
        fixes.append(other)
    for problem in status.mode.problems:
        problems.append(f"not verifiable: {problem}")
        fixes.append(f"its answers cannot be TEE-verified: {other}")
    problems_att, fixes_att = _attestation_problems(status, devnet=devnet, other=other)
    return problems + problems_att, fixes + fixes_att


def _attestation_problems(status: ProviderStatus, *, devnet: bool, other: str) -> tuple[list[str], list[str]]:
    report = status.attestation
    if report is None:
        if status.reachable is not True or status.mode.problems:
            return [], []  # already failed for a reason that explains this one
        return [f"attestation unavailable: {status.attestation_error or 'no report'}"], [other]
    if not report.matches:
        return [f"attestation: {report.note}"], [f"its TEE report does not bind its registered signer: {other}"]
    if report.is_devnet_mock and not devnet:
        return ["attestation: a devnet mock report, not a TEE quote"], [f"it is not running in a TEE: {other}"]
    model = status.model_attestation
    if model is not None and model.signer_in_report is not None and not model.matches:
        return [f"model attestation: {model.note}"], [f"its model TEE report names another signer: {other}"]
    return [], []


def _model_attestation_warnings(status: ProviderStatus) -> list[str]:
    """A separated provider whose model TEE report could not be read or names no signer (not a failure)."""
    if not (status.reachable and status.mode.separated and status.mode.provider_type == DECENTRALIZED):
        return []
    report = status.model_attestation
    if report is None:
        return [f"model TEE report unavailable: {status.model_attestation_error or 'no report'}"]
    if report.signer_in_report is None:
        return [f"model TEE report: {report.note}"]
    return []


# ---------------------------------------------------------------------------------------------- --spend


def judge_spend(result: SpendResult) -> Check:
    """The paid request: answered, fee recorded, verdict ``verified``."""
    name = "paid request"
    if result.error is not None:
        return Check(
            area="spend",
            name=name,
            status=Status.fail,
            detail=result.error,
            fix="fund a sub-account with a chat provider that is up: `zerog acknowledge PROVIDER --amount 1`",
        )
    verification = result.verification
    verdict = verification.verdict if verification is not None else Verdict.skipped
    fee = format_0g(result.fee) if result.fee is not None else "unknown"
    detail = f"{result.provider} · {result.model} · chat {result.chat_id} · fee {fee} · {verdict.value}"
    if verdict is Verdict.verified:
        return Check(area="spend", name=name, status=Status.ok, detail=detail)
    reason = verification.detail if verification is not None and verification.detail else verdict.value
    status = Status.warn if verdict is Verdict.pending else Status.fail
    return Check(
        area="spend",
        name=name,
        status=status,
        detail=f"{detail} ({reason})",
        fix=f"check it again with `zerog verify {result.provider} {result.chat_id}`; if it stays "
        f"{verdict.value}, do not trust this provider's answers",
    )


def spend_candidate(statuses: list[ProviderStatus]) -> ProviderStatus | None:
    """The provider for ``--spend``: a chat provider that is up and verifiable, where your sub-account is
    acknowledged and funded; the cheapest of them is the caller's to order (they come sorted by price)."""
    for status in statuses:
        usable = status.reachable and not status.mode.problems and status.service_type == "chatbot"
        if usable and status.acknowledged and (status.sub_account_balance or 0) > 0:
            return status
    return None


def summary(checks: list[Check]) -> dict[str, Any]:
    """Counts by status, for the table's last line and the JSON."""
    return {s.value: sum(1 for c in checks if c.status is s) for s in Status}
