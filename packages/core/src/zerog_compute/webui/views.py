"""What the Providers and Account pages show: the rows, read live from the chain and the providers.

Pure shaping (:func:`verifiability_mode`, :func:`provider_row`; prices from :mod:`zerog_compute.services`) is
separate from the reads (:func:`providers_view`, :func:`account_view`), which ask every provider in parallel, each
within a few seconds: one slow provider shows as "unreachable", never as a page that does not load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..client import AsyncZeroG
from ..doctor_checks import provider_mode
from ..errors import LedgerNotFoundError, ZeroGError
from ..ledger import LedgerInfo, SubAccount
from ..services import Service, price_unit, unit_prices
from ..units import format_0g

PROBE_TIMEOUT_S = 3.0
"""How long a provider may take to answer its catalog, attestation or unsettled-fee request."""
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------- shaping


def verifiability_mode(service: Service) -> str:
    """TeeML, TeeTLS or "TeeML (separated)" (read from ``additionalInfo`` as ``zerog doctor`` reads it); other
    types as registered.

    ``ProviderType: "centralized"`` means the broker's TEE relays to a centralized model over attested TLS
    (TeeTLS); ``TargetSeparated: true`` means the model runs in a TEE of its own, signing with
    ``TargetTeeAddress``.
    """
    if service.verifiability not in ("TeeML", "TeeTLS"):
        return service.verifiability or "none"
    mode = provider_mode(service)
    return "TeeML (separated)" if mode.kind == "TeeML" and mode.separated else mode.kind


def amount(neuron: int | None) -> str:
    """``"1.5"`` (0G, exact), or "—"."""
    return "—" if neuron is None else format_0g(neuron)[: -len(" 0G")]


@dataclass
class Probe:
    """What asking a provider showed: its catalog (reachability, latency) and its attestation."""

    models: list[str] = field(default_factory=list)
    reachable: bool = False
    latency_ms: float | None = None
    attestation: str = "not checked"
    attestation_ok: bool | None = None


def provider_row(service: Service, probe: Probe, account: SubAccount | None) -> dict[str, Any]:
    """One row of the Providers table; ``sort_*`` keys are the raw values the table sorts by."""
    inp, out = unit_prices(service)
    return {
        "provider": service.provider,
        "url": service.url,
        "service_type": service.service_type,
        "model": service.model,
        "models": probe.models or [service.model],
        "unit": price_unit(service.service_type),
        "input_price": amount(inp),
        "output_price": amount(out),
        "sort_input": inp if inp is not None else -1,
        "sort_output": out if out is not None else -1,
        "verifiability": verifiability_mode(service),
        "signer_acknowledged": service.tee_signer_acknowledged,
        "attestation": probe.attestation,
        "attestation_ok": probe.attestation_ok,
        "reachable": probe.reachable,
        "latency_ms": None if probe.latency_ms is None else round(probe.latency_ms),
        "acknowledged": None if account is None else account.acknowledged,
        "balance": None if account is None else amount(account.balance),
        "sort_balance": -1 if account is None else account.balance,
    }


# ---------------------------------------------------------------------------------------------------- reads


async def _bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, PROBE_TIMEOUT_S)


async def probe(zg: AsyncZeroG, service: Service) -> Probe:
    """The provider's catalog (timed) and, for a verifiable one, whether its quote names the registered signer."""
    result = Probe()
    started = time.perf_counter()
    try:
        catalog = await _bounded(zg.services.models(service.provider))
    except (ZeroGError, asyncio.TimeoutError):
        return result
    result.reachable = True
    result.latency_ms = (time.perf_counter() - started) * 1000
    result.models = [m.id for m in catalog][:20]
    if service.verifiability not in ("TeeML", "TeeTLS", "OpML", "ZKML"):
        result.attestation = "not verifiable"
        return result
    try:
        report = await _bounded(zg.attestation(service.provider))
    except (ZeroGError, asyncio.TimeoutError) as exc:
        result.attestation = f"unavailable ({type(exc).__name__})"
        return result
    result.attestation_ok = report.matches
    result.attestation = "signer matches" if report.matches else "signer does not match"
    if report.is_devnet_mock:
        result.attestation += " (devnet mock)"
    return result


async def sub_accounts(zg: AsyncZeroG) -> dict[str, SubAccount]:
    """The wallet's sub-accounts by provider; none without a ledger."""
    try:
        return {a.provider: a for a in await zg.ledger.sub_accounts()}
    except LedgerNotFoundError:
        return {}


async def providers_view(zg: AsyncZeroG) -> list[dict[str, Any]]:
    """Every registered provider (acknowledged signer or not), probed in parallel, with our sub-account."""
    services = await zg.services.list(include_unacknowledged=True)
    accounts, probes = await asyncio.gather(sub_accounts(zg), asyncio.gather(*(probe(zg, s) for s in services)))
    return [provider_row(s, p, accounts.get(s.provider)) for s, p in zip(services, probes, strict=True)]


async def wallet_balance(zg: AsyncZeroG) -> int:
    """The wallet's native balance (neuron)."""
    return await zg.ledger.wallet_balance()


async def ledger_or_none(zg: AsyncZeroG) -> LedgerInfo | None:
    try:
        return await zg.ledger.get()
    except LedgerNotFoundError:
        return None


async def _unsettled(zg: AsyncZeroG, account: SubAccount) -> int | None:
    if not account.acknowledged:
        return None
    try:
        return await zg.ledger.unsettled_fee(account.provider, timeout=PROBE_TIMEOUT_S)
    except ZeroGError:
        return None


@dataclass
class AccountView:
    """Everything the Account page shows (neuron)."""

    address: str
    network: str
    wallet: int
    ledger: LedgerInfo | None
    accounts: list[SubAccount]
    unsettled: dict[str, int | None]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "provider": a.provider,
                "balance": amount(a.balance),
                "pending_refund": amount(a.pending_refund),
                "unsettled_fee": amount(self.unsettled.get(a.provider)),
                "acknowledged": a.acknowledged,
            }
            for a in self.accounts
        ]


async def account_view(zg: AsyncZeroG) -> AccountView:
    """Wallet, ledger and every sub-account with the fee its provider has not settled yet."""
    wallet, info, accounts = await asyncio.gather(wallet_balance(zg), ledger_or_none(zg), sub_accounts(zg))
    listed = list(accounts.values())
    fees = await asyncio.gather(*(_unsettled(zg, a) for a in listed))
    unsettled = {a.provider: fee for a, fee in zip(listed, fees, strict=True)}
    return AccountView(zg.address, zg.network.name, wallet, info, listed, unsettled)
