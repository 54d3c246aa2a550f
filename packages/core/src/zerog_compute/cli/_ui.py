"""Terminal output of the CLI: rich tables and spinners for people, one JSON document with ``--json``.

stdout carries the result (a table, the chat text, or the JSON document); prompts, spinners, notes and
errors go to stderr, so ``zerog ... --json | jq`` and ``zerog chat ... > answer.txt`` stay clean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..units import format_0g
from ._errors import Refused

WIDE = 400
"""Console width when the output is not a terminal: tables are never folded for pipes and files."""

NONE = "—"


def zero_g(neuron: int) -> str:
    """``neuron`` as a plain decimal number of 0G (no exponent, no unit): ``"0.0000038"``."""
    return format_0g(neuron)[: -len(" 0G")]


def money(neuron: int) -> str:
    """``"1.5 0G"``."""
    return format_0g(neuron)


def amount_fields(name: str, neuron: int | None) -> dict[str, str | None]:
    """JSON fields for an amount: ``name`` in 0G and ``name_neuron``, both strings (exact in any language)."""
    if neuron is None:
        return {name: None, f"{name}_neuron": None}
    return {name: zero_g(neuron), f"{name}_neuron": str(neuron)}


def yes_no(value: bool | None) -> str:
    return NONE if value is None else ("yes" if value else "no")


def _console(stream: Any) -> Console:
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    return Console(file=stream, highlight=False, soft_wrap=True, width=None if terminal else WIDE)


class UI:
    """Where and how one invocation writes."""

    def __init__(self, *, json_mode: bool, assume_yes: bool) -> None:
        self.json = json_mode
        self.assume_yes = assume_yes
        self.out = _console(sys.stdout)
        self.err = _console(sys.stderr)

    # ----------------------------------------------------------------- results

    def emit(self, document: Any) -> None:
        """Write the one JSON document of a ``--json`` run."""
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        table = Table(title=title, title_justify="left", header_style="bold", show_edge=False, pad_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        self.out.print(table)

    def fields(self, title: str | None, rows: Sequence[tuple[str, str]]) -> None:
        """A two-column key/value table."""
        table = Table(title=title, title_justify="left", show_header=False, show_edge=False, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(key, Text(value))
        self.out.print(table)

    def line(self, text: str, style: str | None = None) -> None:
        """A line of result text on stdout (never interpreted as markup)."""
        self.out.print(Text(text, style=style or ""))

    def note(self, text: str, style: str = "dim") -> None:
        """A remark for people on stderr (silent with --json)."""
        if not self.json:
            self.err.print(Text(text, style=style))

    # ----------------------------------------------------------------- progress and questions

    @contextmanager
    def working(self, message: str) -> Iterator[None]:
        """A spinner on stderr while a transaction or request runs (only on a terminal, never with --json)."""
        if self.json or not self.err.is_terminal:
            yield
            return
        with self.err.status(message, spinner="dots"):
            yield

    def confirm(self, command: str, action: str, details: Sequence[str] = ()) -> None:
        """Describe ``action`` and ask ``Proceed? [y/N]``; raise :class:`Refused` unless the answer is yes.

        ``--yes`` skips the question; without a terminal on stdin (and no ``--yes``) ``command`` is refused.
        """
        if self.assume_yes:
            return
        stdin = sys.stdin
        if stdin is None or not stdin.isatty():
            raise Refused(
                f"{command} needs confirmation but stdin is not a terminal: pass --yes to proceed (nothing was sent)"
            )
        self.err.print(Text(action, style="bold"))
        for detail in details:
            self.err.print(Text(f"  {detail}"))
        self.err.print(Text("Proceed? [y/N] "), end="")
        try:
            answer = stdin.readline()
        except KeyboardInterrupt:
            self.err.print()
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise Refused("cancelled: nothing was sent")
