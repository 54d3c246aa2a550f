"""``chat`` (one-shot, or an interactive REPL) and ``verify``."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import Any

from rich.status import Status
from rich.text import Text

from ..client import ZeroG
from ..errors import ZeroGError
from ..types import ZeroGRecord
from ..verification import Verdict, VerificationResult
from . import EXIT_PROVIDER
from ._errors import UsageError, cli_message
from ._session import Session
from ._ui import NONE, UI, amount_fields, money, yes_no

VERDICT_WAIT_S = 15.0
"""How long the footer waits for the background verification before showing "pending"."""

_VERDICT_STYLES = {Verdict.verified: "green", Verdict.pending: "yellow", Verdict.skipped: "dim"}


@dataclass
class Reply:
    text: str
    record: ZeroGRecord | None
    verification: VerificationResult | None


def _wait_verdict(record: ZeroGRecord | None) -> VerificationResult | None:
    """The verification result, waiting a little; a pending result if it takes too long."""
    if record is None:
        return None
    try:
        result = record.verdict(timeout=VERDICT_WAIT_S)
    except TimeoutError:
        return VerificationResult.pending(chat_id=record.chat_id, provider=record.provider)
    except Exception as exc:  # a verification that crashed is a verdict to show, not a reason to fail the chat
        return VerificationResult(
            verdict=Verdict.unavailable, chat_id=record.chat_id, provider=record.provider, detail=str(exc)
        )
    return result if isinstance(result, VerificationResult) else None


class _Spinner:
    """A spinner on stderr until the first token arrives (terminal only, never with --json)."""

    def __init__(self, ui: UI, message: str) -> None:
        self._status: Status | None = None
        if not ui.json and ui.err.is_terminal:
            self._status = ui.err.status(message, spinner="dots")
            self._status.start()

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def ask(s: Session, zg: ZeroG, provider: str, messages: list[dict[str, str]], *, echo: bool) -> Reply:
    """Send ``messages``; with ``echo`` the answer is written to stdout as it arrives."""
    args = s.args
    spinner = _Spinner(s.ui, f"Asking {provider}")
    parts: list[str] = []
    record: ZeroGRecord | None = None
    try:
        if args.no_stream:
            reply = zg.chat.completions.create(provider=provider, messages=messages, model=args.model)
            spinner.stop()
            parts.append((reply.choices[0].message.content or "") if reply.choices else "")
            record = reply.zerog
            if echo:
                _write(parts[0])
        else:
            for chunk in zg.chat.completions.create(
                provider=provider, messages=messages, model=args.model, stream=True
            ):
                piece = "".join(c.delta.content or "" for c in chunk.choices if c.index == 0)
                if piece:
                    spinner.stop()
                    parts.append(piece)
                    if echo:
                        _write(piece)
                if chunk.zerog is not None:
                    record = chunk.zerog
    finally:
        spinner.stop()
    text = "".join(parts)
    if echo and text and not text.endswith("\n"):
        _write("\n")
    return Reply(text, record, _wait_verdict(record))


def footer(reply: Reply) -> Text:
    """``provider · model · chat <id> · fee <x> 0G · <verdict>``, dim, the verdict coloured."""
    record, result = reply.record, reply.verification
    line = Text(style="dim")
    if record is not None:
        line.append(f"{record.provider} · {record.model} · chat {record.chat_id or NONE} · fee {money(record.fee)} · ")
    verdict = result.verdict if result is not None else Verdict.skipped
    line.append(verdict.value, style=_VERDICT_STYLES.get(verdict, "red"))
    if result is not None and verdict is not Verdict.verified and result.detail:
        line.append(f" ({result.detail})")
    return line


def reply_json(reply: Reply) -> dict[str, Any]:
    record, result = reply.record, reply.verification
    return {
        "provider": record.provider if record else None,
        "model": record.model if record else None,
        "chat_id": record.chat_id if record else None,
        "content": reply.text,
        **amount_fields("fee", record.fee if record else None),
        "input_tokens": record.input_tokens if record else None,
        "output_tokens": record.output_tokens if record else None,
        "latency_ms": record.latency_ms if record else None,
        "verification": result.model_dump(mode="json") if result is not None else None,
    }


def chat(s: Session) -> int:
    args = s.args
    provider: str = args.provider
    history: list[dict[str, str]] = [{"role": "system", "content": args.system}] if args.system else []
    message: str | None = args.message
    interactive = message is None and sys.stdin is not None and sys.stdin.isatty()
    if message is None and not interactive:
        message = sys.stdin.read().strip() if sys.stdin is not None else ""
        if not message:
            raise UsageError("no message: pass MESSAGE, pipe one on stdin, or run on a terminal for a chat session")
    if interactive and s.ui.json:
        raise UsageError("--json needs a MESSAGE (an interactive chat session is for people)")
    zg = s.client()
    if message is not None:
        reply = ask(s, zg, provider, [*history, {"role": "user", "content": message}], echo=not s.ui.json)
        if s.ui.json:
            s.ui.emit(reply_json(reply))
        else:
            s.ui.err.print(footer(reply))
        return 0
    return repl(s, zg, provider, history)


def repl(s: Session, zg: ZeroG, provider: str, system: list[dict[str, str]]) -> int:
    """Read a line, ask, print; ``/exit`` (or Ctrl-D) leaves, ``/reset`` forgets the conversation."""
    with contextlib.suppress(ImportError):  # line editing and history for input(), where available
        import readline  # noqa: F401
    history = list(system)
    s.ui.note(f"Chatting with {provider}. /exit to leave, /reset to start over.")
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            s.ui.err.print()
            return 0
        if not line:
            continue
        if line in ("/exit", "/quit"):
            return 0
        if line == "/reset":
            history = list(system)
            s.ui.note("(conversation cleared)")
            continue
        history.append({"role": "user", "content": line})
        try:
            reply = ask(s, zg, provider, history, echo=True)
        except KeyboardInterrupt:
            history.pop()
            s.ui.note("\n(interrupted)", style="yellow")
            continue
        except ZeroGError as exc:  # keep the session: the error says what to fix, the next question may work
            history.pop()
            s.ui.err.print(Text(f"zerog: {cli_message(exc, s.secrets)}", style="red"))
            continue
        history.append({"role": "assistant", "content": reply.text})
        s.ui.err.print(footer(reply))


# ---------------------------------------------------------------------------------------------- verify


def _bound(value: bool | None) -> str:
    return "not checked (needs the exchanged request and response bodies)" if value is None else yes_no(value)


def verify(s: Session) -> int:
    provider: str = s.args.provider
    chat_id: str = s.args.chat_id
    zg = s.client(key_required=False)
    with s.ui.working(f"Verifying chat {chat_id}"):
        result = zg.verify(provider, chat_id)
    if s.ui.json:
        s.ui.emit(result.model_dump(mode="json"))
    else:
        rows = [
            ("verdict", result.verdict.value),
            ("chat id", result.chat_id or NONE),
            ("provider", result.provider or provider),
            ("expected signer", result.expected_signer or NONE),
            ("recovered signer", result.recovered_signer or NONE),
            ("signed text", result.signed_text or NONE),
            ("content bound", _bound(result.content_bound)),
            ("detail", result.detail or NONE),
        ]
        s.ui.fields(f"Verification of chat {chat_id}", rows)
    if not result.ok:
        s.ui.err.print(Text(f"zerog: verification failed: {result.verdict.value}: {result.detail}", style="red"))
        return EXIT_PROVIDER
    return 0
