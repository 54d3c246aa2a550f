"""Discovery commands: ``networks``, ``providers list``, ``providers show``, and ``acknowledge``."""

from __future__ import annotations

import concurrent.futures
import json
from datetime import datetime, timezone
from typing import Any

import httpx

from ..errors import ConfigurationError, ZeroGError
from ..ledger import SubAccount
from ..networks import NETWORKS, Network, devnet_file, devnet_network, resolve_network
from ..services import ModelInfo, Service, price_unit
from ..services import unit_prices as prices
from ._funds import sub_account_json
from ._session import Session
from ._ui import NONE, amount_fields, money, yes_no, zero_g

HEALTH_TIMEOUT_S = 2.0


# ---------------------------------------------------------------------------------------------- networks


def networks(s: Session) -> int:
    known: list[Network] = list(NETWORKS.values())
    if devnet_file().exists():
        try:
            known.append(devnet_network())
        except ConfigurationError as exc:
            s.ui.note(f"devnet skipped: {exc}", style="yellow")
    try:
        selected: Network | None = resolve_network(s.args.network, s.args.rpc)
    except ConfigurationError:
        selected = None
    shown = [selected if selected is not None and n.name == selected.name else n for n in known]
    chosen = selected.name if selected is not None else None
    if s.ui.json:
        s.ui.emit([{**n.model_dump(), "selected": n.name == chosen} for n in shown])
        return 0
    columns = ("", "network", "chain id", "RPC", "ledger", "inference", "fine-tuning")
    rows = [
        [
            "*" if n.name == chosen else "",
            n.name,
            str(n.chain_id),
            n.rpc_url,
            n.ledger,
            n.inference,
            n.fine_tuning or NONE,
        ]
        for n in shown
    ]
    s.ui.table(None, columns, rows)
    s.ui.note("* = selected (--network, else $ZG_NETWORK, else testnet)")
    return 0


# ---------------------------------------------------------------------------------------------- prices


def _price_text(neuron: int | None) -> str:
    return NONE if neuron is None else zero_g(neuron)


# ---------------------------------------------------------------------------------------------- providers list


def _health(url: str) -> bool:
    try:
        return httpx.get(url.rstrip("/") + "/v1/models", timeout=HEALTH_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return False


def health(services: list[Service]) -> dict[str, bool]:
    """``GET /v1/models`` of every provider in parallel (2 s timeout): up (True) or down."""
    if not services:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(services))) as pool:
        results = pool.map(_health, [svc.url for svc in services])
        return {svc.provider: up for svc, up in zip(services, results, strict=True)}


def _my_accounts(s: Session, services: list[Service]) -> dict[str, SubAccount] | None:
    """Our sub-accounts by provider; None when no key is set (unknown)."""
    if not s.has_key:
        return None
    zg = s.client()
    try:
        return {a.provider: a for a in zg.ledger.sub_accounts()}
    except ZeroGError:  # e.g. a registry quirk: ask provider by provider
        found = (zg.ledger.sub_account(svc.provider) for svc in services)
        return {a.provider: a for a in found if a is not None}


def _acknowledged(accounts: dict[str, SubAccount] | None, provider: str) -> bool | None:
    """Yes: acknowledged sub-account; no: a sub-account not acknowledged yet; None: none (or unknown)."""
    account = None if accounts is None else accounts.get(provider)
    return None if account is None else account.acknowledged


def _service_json(service: Service) -> dict[str, Any]:
    inp, out = prices(service)
    return {
        "provider": service.provider,
        "service_type": service.service_type,
        "model": service.model,
        "url": service.url,
        "verifiability": service.verifiability,
        "verifiable": service.verifiable,
        "tee_signer_address": service.tee_signer_address,
        "tee_signer_acknowledged": service.tee_signer_acknowledged,
        "price_unit": price_unit(service.service_type),
        **amount_fields("input_price", inp),
        **amount_fields("output_price", out),
        "input_price_per_unit_neuron": str(service.input_price),
        "output_price_per_unit_neuron": str(service.output_price),
        "updated_at": service.updated_at,
    }


def providers_list(s: Session) -> int:
    args = s.args
    zg = s.client(key_required=False)
    with s.ui.working("Listing providers"):
        services = zg.services.list(
            service_type=args.type,
            model=args.model,
            verifiable_only=args.verifiable,
            include_unacknowledged=args.all,
        )
        accounts = _my_accounts(s, services)
        up = {} if args.no_health else health(services)
    if s.ui.json:
        s.ui.emit(
            [
                {
                    **_service_json(svc),
                    "acknowledged": _acknowledged(accounts, svc.provider),
                    "up": up.get(svc.provider),
                }
                for svc in services
            ]
        )
        return 0
    if not services:
        s.ui.note("No provider matches.", style="yellow")
        return 0
    columns = ["provider", "model", "type", "input (0G)", "output (0G)", "unit", "verifiability", "acknowledged"]
    if not args.no_health:
        columns.append("health")
    rows = []
    for svc in services:
        inp, out = prices(svc)
        verifiability = svc.verifiability + ("" if svc.tee_signer_acknowledged else " (TEE signer not acknowledged)")
        row = [
            svc.provider,
            svc.model,
            svc.service_type,
            _price_text(inp),
            _price_text(out),
            price_unit(svc.service_type),
        ]
        row += [verifiability, yes_no(_acknowledged(accounts, svc.provider))]
        if not args.no_health:
            row.append("up" if up.get(svc.provider) else "down")
        rows.append(row)
    s.ui.table(f"Providers on {zg.network.name}", columns, rows)
    if accounts is None:
        s.ui.note(f"acknowledged: — (set ${args.key_env} to see your sub-accounts)")
    return 0


# ---------------------------------------------------------------------------------------------- providers show


def _models(s: Session, provider: str) -> tuple[list[ModelInfo], str | None]:
    try:
        return s.client(key_required=False).services.models(provider), None
    except ZeroGError as exc:
        return [], str(exc)


def _pricing_text(model: ModelInfo) -> str:
    return ", ".join(f"{k}={v}" for k, v in model.pricing.items() if not isinstance(v, (dict, list))) or NONE


def providers_show(s: Session) -> int:
    provider: str = s.args.provider
    zg = s.client(key_required=False)
    with s.ui.working(f"Reading {provider}"):
        service = zg.services.get(provider)
        models, catalog_error = _models(s, provider)
        account = zg.ledger.sub_account(provider) if s.has_key else None
    if s.ui.json:
        s.ui.emit(
            {
                **_service_json(service),
                "additional_info": service.info or service.additional_info,
                "models": [m.model_dump(mode="json") for m in models],
                "models_error": catalog_error,
                "sub_account": sub_account_json(account) if account is not None else None,
            }
        )
        return 0
    inp, out = prices(service)
    unit = price_unit(service.service_type)
    updated = datetime.fromtimestamp(service.updated_at, tz=timezone.utc).isoformat(timespec="seconds")
    rows = [
        ("provider", service.provider),
        ("type", service.service_type),
        ("model", service.model),
        ("url", service.url),
        ("input price", NONE if inp is None else f"{money(inp)} {unit}"),
        ("output price", NONE if out is None else f"{money(out)} {unit}"),
        ("verifiability", service.verifiability),
        ("TEE signer", service.tee_signer_address),
        ("TEE signer acknowledged", yes_no(service.tee_signer_acknowledged)),
        ("updated", updated),
    ]
    if s.has_key:
        rows.append(("your sub-account", _account_text(account)))
    s.ui.fields(f"Service of {service.provider}", rows)
    s.ui.line("")
    s.ui.line("additionalInfo", style="bold")
    s.ui.line(json.dumps(service.info, indent=2) if service.info else (service.additional_info or NONE))
    s.ui.line("")
    if catalog_error is not None:
        s.ui.line(f"model catalog unavailable: {catalog_error}", style="yellow")
        return 0
    model_rows = [
        [m.id, m.type or NONE, _int_text(m.context_length), _int_text(m.max_completion_tokens), _pricing_text(m)]
        for m in models
    ]
    columns = ("id", "type", "context", "max completion", "pricing (neuron)")
    s.ui.table("Model catalog (GET /v1/models)", columns, model_rows)
    return 0


def _int_text(value: int | None) -> str:
    return NONE if value is None else str(value)


def _account_text(account: SubAccount | None) -> str:
    if account is None:
        return "none (open one with `zerog acknowledge PROVIDER --amount 1`)"
    state = "acknowledged" if account.acknowledged else "not acknowledged"
    return f"{money(account.balance)}, {state}"


# ---------------------------------------------------------------------------------------------- acknowledge


def acknowledge(s: Session) -> int:
    provider: str = s.args.provider
    amount: int | None = s.args.amount
    zg = s.client()
    if amount is not None:
        s.ui.confirm(
            "acknowledge --amount",
            f"Transfer {money(amount)} from the ledger to provider {provider} and acknowledge it on {zg.network.name}.",
        )
    with s.ui.working(f"Acknowledging {provider}"):
        account = zg.acknowledge(provider, amount)
    if s.ui.json:
        s.ui.emit(
            {"action": "acknowledge", **amount_fields("amount", amount), "sub_account": sub_account_json(account)}
        )
        return 0
    s.ui.note(f"Sub-account with {provider} is acknowledged.", style="green")
    s.ui.fields(
        None,
        [
            ("provider", account.provider),
            ("balance", money(account.balance)),
            ("pending refund", money(account.pending_refund)),
            ("acknowledged", yes_no(account.acknowledged)),
        ],
    )
    return 0
