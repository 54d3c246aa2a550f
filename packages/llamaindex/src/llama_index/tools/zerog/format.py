"""Short texts the tools return to the model (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from zerog_compute import ImagesResponse, LedgerInfo, Service, SubAccount, Transcription, format_0g


def _record(record: object) -> str:
    provider = getattr(record, "provider", "?")
    fee = getattr(record, "fee", 0)
    chat_id = getattr(record, "chat_id", None)
    return f"provider {provider}, fee {format_0g(int(fee))}, chat id {chat_id}"


def image_text(result: ImagesResponse, places: Sequence[str]) -> str:
    where = "\n".join(places) if places else "(no image returned)"
    return f"Generated {len(places)} image(s) ({_record(result.zerog)}):\n{where}"


def transcription_text(result: Transcription) -> str:
    return f"Transcript ({_record(result.zerog)}):\n{result.text}"


def balance_text(address: str, info: LedgerInfo, accounts: Sequence[SubAccount]) -> str:
    lines = [
        f"Wallet {address}: ledger total {format_0g(info.total)}, available {format_0g(info.available)}, "
        f"in sub-accounts {format_0g(info.locked)}."
    ]
    for account in accounts:
        pending = f", pending refund {format_0g(account.pending_refund)}" if account.pending_refund else ""
        lines.append(f"- {account.provider}: {format_0g(account.balance)}{pending}")
    return "\n".join(lines)


def services_text(services: Sequence[Service]) -> str:
    if not services:
        return "No provider found."
    lines = []
    for s in services:
        check = "verifiable" if s.verifiable else "not verifiable"
        lines.append(
            f"- {s.provider} {s.service_type} model {s.model}: input {s.input_price}, output {s.output_price} "
            f"neuron per unit, {s.verifiability} ({check})"
        )
    return "\n".join(lines)
