"""``zerog doctor``: is this RPC, this wallet and this network's providers ready to use? One report, every line a ✓/✗.

:func:`diagnose` observes (JSON-RPC for the chain id, contract code and the wallet's balance; the client's public
API for the ledger, discovery, attestation and the optional paid request; ``GET /v1/models`` of every provider,
concurrently, in bounded time, on the provider's registered origin only) and :mod:`zerog_compute.doctor_checks`
judges. Nothing here moves funds; ``spend=True`` sends one short chat request, whose fee is the only cost.

>>> from zerog_compute import ZeroG
>>> from zerog_compute.doctor import diagnose
>>> with ZeroG(network="testnet") as zg:  # doctest: +SKIP
...     report = diagnose(zg)
...     print(report.ok, [c.name for c in report.failures])
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from .client import ZeroG
from .doctor_checks import (
    Check,
    ProviderStatus,
    SpendResult,
    Status,
    display_url,
    judge_balance,
    judge_chain_id,
    judge_code,
    judge_ledger,
    judge_provider,
    judge_spend,
    probe_target,
    provider_mode,
    spend_candidate,
)
from .errors import LedgerNotFoundError, ZeroGError
from .ledger import LedgerInfo, SubAccount
from .services import Service, checksum
from .untrusted_json import parse_json
from .verification import Verdict, VerificationResult, check_attestation

__all__ = ["DEFAULT_TIMEOUT", "DoctorReport", "diagnose"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
"""Seconds any one probe may take; all providers are probed at once, so the whole run stays near this."""
MAX_ANSWER_BYTES = 1024 * 1024
"""Largest RPC or ``/v1/models`` answer read; a catalog is a few KiB."""
MAX_PROBES = 16
SPEND_PROMPT = "Reply with the single word OK."
SPEND_MAX_TOKENS = 16


class DoctorReport(BaseModel):
    """Everything :func:`diagnose` found: the lines of the table, and the providers' details."""

    model_config = ConfigDict(frozen=True)

    network: str
    chain_id: int
    rpc: str
    """The RPC endpoint without path, query or user info (they may hold keys)."""
    address: str | None
    checks: list[Check]
    providers: list[ProviderStatus] = Field(default_factory=list)
    spend: SpendResult | None = None

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.fail]

    @property
    def ok(self) -> bool:
        return not self.failures


class _ProbeError(Exception):
    """A probe that failed; the message is safe to show (no URL, no key)."""


# ---------------------------------------------------------------------------------------------- chain


def _read(response: httpx.Response) -> bytes:
    data = bytearray()
    for piece in response.iter_bytes():
        data += piece
        if len(data) > MAX_ANSWER_BYTES:
            raise _ProbeError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
    return bytes(data)


def _rpc(http: httpx.Client, url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    try:
        with http.stream("POST", url, json=body, follow_redirects=False) as response:
            content = _read(response)
    except httpx.HTTPError as exc:
        raise _ProbeError(type(exc).__name__) from None
    try:
        payload = parse_json(content)
    except ValueError:
        raise _ProbeError(f"HTTP {response.status_code}, not JSON-RPC") from None
    if not isinstance(payload, dict) or ("error" not in payload and "result" not in payload):
        raise _ProbeError(f"HTTP {response.status_code}, not JSON-RPC")
    if "error" in payload:
        error = payload["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise _ProbeError(f"RPC error: {str(message)[:200]}")
    return payload["result"]


def _hex_int(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise _ProbeError(f"not a hex quantity: {str(value)[:40]!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise _ProbeError(f"not a hex quantity: {value[:40]!r}") from None


def _chain_checks(zg: ZeroG, http: httpx.Client) -> tuple[list[Check], dict[str, bool]]:
    """RPC and contract-code lines, and which contracts have code (the later checks need them)."""
    network = zg.network
    try:
        reported: int | None = _hex_int(_rpc(http, network.rpc_url, "eth_chainId"))
        error = None
    except _ProbeError as exc:
        reported, error = None, str(exc)
    checks = [judge_chain_id(network, reported, error)]
    if checks[0].status is not Status.ok:
        return checks, {}
    contracts = {"ledger": network.ledger, "inference": network.inference}
    if network.fine_tuning:
        contracts["fine-tuning"] = network.fine_tuning
    present: dict[str, bool] = {}
    for name, address in contracts.items():
        try:
            code: str | None = _rpc(http, network.rpc_url, "eth_getCode", address, "latest")
            code_error = None if isinstance(code, str) else "not a hex string"
            code = code if isinstance(code, str) else None
        except _ProbeError as exc:
            code, code_error = None, str(exc)
        check = judge_code(network, name, address, code, code_error)
        present[name] = check.status is Status.ok
        checks.append(check)
    return checks, present


# ---------------------------------------------------------------------------------------------- wallet


def _wallet_checks(
    zg: ZeroG, http: httpx.Client, *, has_key: bool, ledger_present: bool
) -> tuple[list[Check], dict[str, SubAccount]]:
    network = zg.network
    address = zg.address if has_key else None
    balance, error = None, None
    if address is not None:
        try:
            balance = _hex_int(_rpc(http, network.rpc_url, "eth_getBalance", address, "latest"))
        except _ProbeError as exc:
            error = str(exc)
    checks = [judge_balance(network, address, balance, error)]
    if address is None:
        return checks, {}
    if not ledger_present:
        checks.append(_skipped("wallet", "ledger", "the ledger contract is missing or unreadable (see above)"))
        return checks, {}
    ledger: LedgerInfo | None = None
    missing, error = False, None
    try:
        ledger = zg.ledger.get()
    except LedgerNotFoundError:
        missing = True
    except ZeroGError as exc:
        error = _safe(zg, exc)
    checks.append(judge_ledger(ledger, missing, error))
    accounts: dict[str, SubAccount] = {}
    if ledger is not None:
        try:
            accounts = {a.provider: a for a in zg.ledger.sub_accounts()}
        except ZeroGError as exc:
            log.info("could not list the sub-accounts: %s", _safe(zg, exc))
    return checks, accounts


def _skipped(area: Any, name: str, why: str) -> Check:
    return Check(area=area, name=name, status=Status.skipped, detail=f"not checked: {why}")


# ---------------------------------------------------------------------------------------------- providers


def _catalog(content: bytes) -> list[str]:
    try:
        data = parse_json(content)
    except ValueError:
        raise _ProbeError("answered /v1/models with something that is not JSON") from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _ProbeError("answered /v1/models without a model list")
    return [str(item["id"])[:200] for item in items if isinstance(item, dict) and "id" in item]


def _probe(zg: ZeroG, http: httpx.Client, base: ProviderStatus, service: Service, *, local_ok: bool) -> ProviderStatus:
    """``GET /v1/models`` (with its latency) and the attestation of one provider."""
    url, refused = probe_target(service.url, "/v1/models", local_ok=local_ok)
    if url is None:
        return base.model_copy(update={"probe_error": refused})
    update: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        with http.stream("GET", url, follow_redirects=False) as response:
            content = _read(response)
        update["latency_ms"] = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise _ProbeError(f"/v1/models answered HTTP {response.status_code}")
        update["models"] = _catalog(content)
        update["reachable"] = True
    except httpx.HTTPError as exc:
        update.update(reachable=False, probe_error=f"unreachable ({type(exc).__name__})")
    except _ProbeError as exc:
        update.update(reachable=False, probe_error=str(exc))
    if update.get("reachable"):
        try:
            update["attestation"] = zg.attestation(service.provider)
        except ZeroGError as exc:
            update["attestation_error"] = _safe(zg, exc)[:300]
        if base.mode.separated and base.mode.provider_type == "decentralized" and base.mode.signer:
            update.update(_model_report(http, service, base.mode.signer, local_ok=local_ok))
    return base.model_copy(update=update)


def _model_report(http: httpx.Client, service: Service, signer: str, *, local_ok: bool) -> dict[str, Any]:
    """A separated provider's model TEE report (the TS SDK's ``verifyService`` reads it), checked against
    ``TargetTeeAddress``."""
    path = f"/v1/proxy/attestation/report?model={quote(service.model, safe='/')}"
    url, refused = probe_target(service.url, path, local_ok=local_ok)
    if url is None:
        return {"model_attestation_error": refused}
    try:
        with http.stream("GET", url, follow_redirects=False) as response:
            content = _read(response)
    except httpx.HTTPError as exc:
        return {"model_attestation_error": f"unreachable ({type(exc).__name__})"}
    except _ProbeError as exc:
        return {"model_attestation_error": str(exc)}
    if response.status_code != 200:
        return {"model_attestation_error": f"/v1/proxy/attestation/report answered HTTP {response.status_code}"}
    return {"model_attestation": check_attestation(content, tee_signer_address=signer)}


def _safe(zg: ZeroG, exc: BaseException) -> str:
    """An error's text without the RPC URL's path, query or user info (they may hold an API key)."""
    rpc = zg.network.rpc_url
    return str(exc).replace(rpc, display_url(rpc)) if rpc else str(exc)


def _base_status(service: Service, accounts: dict[str, SubAccount]) -> ProviderStatus:
    account = accounts.get(service.provider)
    return ProviderStatus(
        provider=service.provider,
        service_type=service.service_type,
        model=service.model,
        url=service.url,
        mode=provider_mode(service),
        sub_account_balance=account.usable if account is not None else None,
        acknowledged=account.acknowledged if account is not None else None,
    )


def _probe_all(
    zg: ZeroG, http: httpx.Client, services: list[Service], accounts: dict[str, SubAccount], timeout: float
) -> list[ProviderStatus]:
    """Every provider at once; one that has not finished within ``timeout`` (twice: catalog, then quote) is down."""
    local_ok = zg.network.name == "devnet"
    bases = [_base_status(s, accounts) for s in services]
    if not services:
        return []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_PROBES, len(services)))
    try:
        futures = [pool.submit(_probe, zg, http, b, s, local_ok=local_ok) for b, s in zip(bases, services, strict=True)]
        concurrent.futures.wait(futures, timeout=2 * timeout + 1)
        late = f"no answer within {2 * timeout:.0f} s"
        return [
            f.result() if f.done() else b.model_copy(update={"reachable": False, "probe_error": late})
            for f, b in zip(futures, bases, strict=True)
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _provider_checks(
    zg: ZeroG, http: httpx.Client, accounts: dict[str, SubAccount], only: Sequence[str], timeout: float
) -> tuple[list[Check], list[ProviderStatus]]:
    try:
        services = zg.services.list()
    except ZeroGError as exc:
        check = Check(
            area="provider",
            name="providers",
            status=Status.fail,
            detail=f"could not list the providers: {_safe(zg, exc)}",
            fix="check the RPC and the inference contract lines above",
        )
        return [check], []
    checks: list[Check] = []
    if only:
        wanted = {checksum(p).lower() for p in only}
        found = {s.provider.lower() for s in services}
        for provider in only:
            if checksum(provider).lower() not in found:
                checks.append(
                    Check(
                        area="provider",
                        name=checksum(provider),
                        status=Status.fail,
                        detail="no acknowledged service is registered at this address",
                        fix="check the address with `zerog providers list --all`",
                    )
                )
        services = [s for s in services if s.provider.lower() in wanted]
    elif not services:
        checks.append(
            Check(
                area="provider",
                name="providers",
                status=Status.fail,
                detail=f"no provider is registered on {zg.network.name}",
                fix="check the network (--network) and the inference contract line above",
            )
        )
    services.sort(key=lambda s: (s.input_price + s.output_price, s.provider))
    statuses = _probe_all(zg, http, services, accounts, timeout)
    devnet = zg.network.name == "devnet"
    return checks + [judge_provider(s, devnet=devnet) for s in statuses], statuses


# ---------------------------------------------------------------------------------------------- --spend


def _spend(zg: ZeroG, statuses: list[ProviderStatus], timeout: float) -> SpendResult:
    candidate = spend_candidate(statuses)
    if candidate is None:
        return SpendResult(
            error="no chat provider that is up and verifiable has an acknowledged, funded sub-account of yours"
        )
    messages = [{"role": "user", "content": SPEND_PROMPT}]
    try:
        reply = zg.chat.completions.create(provider=candidate.provider, messages=messages, max_tokens=SPEND_MAX_TOKENS)
    except ZeroGError as exc:
        error = f"{candidate.provider}: {_safe(zg, exc)}"
        return SpendResult(provider=candidate.provider, model=candidate.model, error=error)
    record = reply.zerog
    if record is None:
        return SpendResult(provider=candidate.provider, error="the answer carries no 0G record")
    try:
        verification = record.verdict(timeout=timeout)
    except TimeoutError:
        verification = VerificationResult.pending(chat_id=record.chat_id, provider=record.provider)
    except Exception as exc:  # a verification that crashed is a verdict to show
        verification = VerificationResult(
            verdict=Verdict.unavailable, chat_id=record.chat_id, provider=record.provider, detail=str(exc)[:300]
        )
    return SpendResult(
        provider=record.provider,
        model=record.model,
        chat_id=record.chat_id,
        fee=record.fee,
        verification=verification,
    )


# ---------------------------------------------------------------------------------------------- the run


def diagnose(
    zg: ZeroG,
    *,
    has_key: bool = True,
    providers: Sequence[str] = (),
    spend: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> DoctorReport:
    """Check ``zg``'s network, wallet and providers (only ``providers`` when given); ``spend`` pays one request.

    ``has_key=False``: ``zg`` holds a throwaway key (no wallet configured): the wallet line fails and its
    ledger is not read. Each probe is bounded by ``timeout`` seconds. Never raises for what it finds.
    """
    network = zg.network
    with httpx.Client(timeout=timeout) as http:
        checks, present = _chain_checks(zg, http)
        report = DoctorReport(
            network=network.name,
            chain_id=network.chain_id,
            rpc=display_url(network.rpc_url),
            address=zg.address if has_key else None,
            checks=checks,
        )
        if checks[0].status is not Status.ok:
            skipped = _skipped("chain", "everything else", "the RPC must work first")
            return report.model_copy(update={"checks": [*checks, skipped]})
        wallet, accounts = _wallet_checks(zg, http, has_key=has_key, ledger_present=present.get("ledger", False))
        checks += wallet
        if not present.get("inference", False):
            checks.append(
                _skipped("provider", "providers", "the inference contract is missing or unreadable (see above)")
            )
            return report.model_copy(update={"checks": checks})
        provider_lines, statuses = _provider_checks(zg, http, accounts, providers, timeout)
        checks += provider_lines
    spent = None
    if spend:
        spent = _spend(zg, statuses, timeout) if has_key else SpendResult(error="no private key is set")
        checks.append(judge_spend(spent))
    return report.model_copy(update={"checks": checks, "providers": statuses, "spend": spent})
