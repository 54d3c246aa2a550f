"""How errors leave the CLI: exit codes, one-line messages with CLI hints, secrets redacted."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ..errors import (
    ChainError,
    ConfigurationError,
    LedgerError,
    NotAcknowledgedError,
    ProviderError,
    ServiceNotFoundError,
    VerificationError,
)
from . import EXIT_CHAIN, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_PROVIDER, EXIT_REFUSED, EXIT_USAGE


class UsageError(Exception):
    """Bad command-line usage (exit 2); ``usage`` is the parser's usage line, when there is one."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class Refused(Exception):
    """A confirmation was declined, or could not be asked (exit 3). Nothing was sent."""


_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UsageError, EXIT_USAGE),
    (ConfigurationError, EXIT_USAGE),
    (Refused, EXIT_REFUSED),
    (ChainError, EXIT_CHAIN),
    (LedgerError, EXIT_CHAIN),
    (ProviderError, EXIT_PROVIDER),
    (VerificationError, EXIT_PROVIDER),
    (NotAcknowledgedError, EXIT_PROVIDER),
    (ServiceNotFoundError, EXIT_PROVIDER),
    (KeyboardInterrupt, EXIT_INTERRUPTED),
)


def exit_code(exc: BaseException) -> int:
    """The documented exit code for ``exc`` (1 for anything unclassified)."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_ERROR


def error_type(exc: BaseException) -> str:
    return type(exc).__name__


# The library's messages name Python calls; on the command line the matching command is the hint.
_ADDRESS = r"'(0x[0-9a-fA-F]{40})'"


def _provider(match: re.Match[str]) -> str:
    return match.group(1) or "PROVIDER"


_HINTS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern), replace)
    for pattern, replace in (
        (r"zg\.ledger\.create\(amount\)", "`zerog create-ledger AMOUNT`"),
        (r"zg\.ledger\.deposit\(amount\)", "`zerog deposit AMOUNT`"),
        (r"zg\.ledger\.retrieve\(\)", "`zerog retrieve`"),
        (
            rf"zg\.ledger\.transfer\((?:{_ADDRESS}|provider), amount\)",
            lambda m: f"`zerog transfer {_provider(m)} AMOUNT`",
        ),
        (
            rf"zg\.acknowledge\((?:{_ADDRESS}|provider), amount=1\)",
            lambda m: f"`zerog acknowledge {_provider(m)} --amount 1`",
        ),
        (rf"zg\.acknowledge\((?:{_ADDRESS}|provider)\)", lambda m: f"`zerog acknowledge {_provider(m)}`"),
        (
            r"zg\.services\.list\(service_type='([^']*)'\)",
            lambda m: f"`zerog providers list --type {m.group(1)}`",
        ),
        (r"zg\.services\.list\(\)", "`zerog providers list`"),
        (r"zg\.api_keys\.revoke_all\((?:provider)?\)", "`zerog api-key revoke-all PROVIDER`"),
        (r"pass amount >= 3", "pass an AMOUNT >= 3"),
        (r"\b[Cc]all (`zerog )", r"run \1"),
    )
)
_API_KEY = re.compile(r"app-sk-[A-Za-z0-9+/=_\-]+")
_HEX_KEY = re.compile(r"\b(?:0[xX])?[0-9a-fA-F]{64}\b")


def cli_message(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """One line for the user: the error's message with CLI hints, any key material redacted."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = str(exc) or error_type(exc)
    if exit_code(exc) == EXIT_ERROR:
        text = f"unexpected error: {error_type(exc)}: {text}"
    for pattern, replace in _HINTS:
        text = pattern.sub(replace, text)
    text = " ".join(text.split())
    if isinstance(exc, UsageError):  # argparse echoes what it did not understand, e.g. a key typed as an option
        text = _HEX_KEY.sub("<redacted>", text)
    return redact(text, secrets)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without API keys and without any of ``secrets`` (the private key, with or without 0x)."""
    text = _API_KEY.sub("app-sk-<redacted>", text)
    for secret in secrets:
        for form in {secret, secret.removeprefix("0x"), secret.removeprefix("0X")}:
            if len(form) >= 32:
                text = text.replace(form, "<redacted>")
    return text
