"""``zerog doctor``: the readiness report of :mod:`zerog_compute.doctor` as a ✓/✗ table (or one JSON document).

Exit code: 0 when no line failed; 4 when a chain or wallet line failed (RPC, contract code, balance, ledger);
else 5 when a provider or the paid request failed.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from ..client import ZeroG
from ..doctor import DoctorReport, diagnose
from ..doctor_checks import Check, Status, summary
from . import EXIT_CHAIN, EXIT_OK, EXIT_PROVIDER
from ._errors import redact
from ._session import Session
from ._ui import amount_fields

SPEND_DEADLINE_FACTOR = 3
"""The paid request (and any one exchange) may take this many ``--timeout``s in all."""
MARKS = {
    Status.ok: ("✓", "green"),
    Status.fail: ("✗", "red"),
    Status.warn: ("!", "yellow"),
    Status.skipped: ("-", "dim"),
}


def exit_code(report: DoctorReport) -> int:
    """0 if nothing failed; 4 for a chain or wallet failure; 5 for a provider or paid-request failure."""
    areas = {c.area for c in report.failures}
    if areas & {"chain", "wallet"}:
        return EXIT_CHAIN
    return EXIT_PROVIDER if areas else EXIT_OK


def report_json(report: DoctorReport, secrets: list[str]) -> dict[str, Any]:
    document = report.model_dump(mode="json")
    document["ok"] = report.ok
    document["summary"] = summary(report.checks)
    if report.spend is not None:
        document["spend"].update(amount_fields("fee", report.spend.fee))
    redacted: dict[str, Any] = _redacted(document, secrets)
    return redacted


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    return value


def _row(check: Check, secrets: list[str]) -> list[Text]:
    mark, style = MARKS[check.status]
    return [
        Text(mark, style=style),
        Text(check.name),
        Text(redact(check.detail, secrets)),
        Text(redact(check.fix or "", secrets), style="yellow"),
    ]


def _client(s: Session, timeout: float) -> ZeroG:
    """The session's client, bounded by ``--timeout`` (a missing key is not an error here: the wallet line says so)."""
    return s.client(key_required=False, timeout=timeout, deadline=SPEND_DEADLINE_FACTOR * timeout)


def doctor(s: Session) -> int:
    args = s.args
    timeout: float = args.timeout
    zg = _client(s, timeout)
    with s.ui.working(f"Checking {zg.network.name}"):
        report = diagnose(zg, has_key=s.has_key, providers=args.provider or (), spend=args.spend, timeout=timeout)
    if s.ui.json:
        s.ui.emit(report_json(report, s.secrets))
        return exit_code(report)
    title = f"zerog doctor: {report.network} (chain id {report.chain_id}) via {report.rpc}"
    table = Table(title=title, title_justify="left", header_style="bold", show_edge=False, pad_edge=False)
    for column in ("", "check", "result", "what to do"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        table.add_row(*_row(check, s.secrets))
    s.ui.out.print(table)
    counts = summary(report.checks)
    verdict = f"{counts['fail']} failed" if not report.ok else "no failures" if counts["warn"] else "all good"
    s.ui.note(f"{verdict}: {counts['ok']} ✓, {counts['fail']} ✗, {counts['warn']} !, {counts['skipped']} skipped")
    return exit_code(report)
