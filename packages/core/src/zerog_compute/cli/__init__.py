"""``zerog``: the 0G Compute Network from the command line (the user side of the TS ``0g-compute-cli``).

Install with ``pip install 'zerog-compute[cli]'`` (the CLI needs ``rich``; the library never imports it).
The wallet key is read from ``$ZG_PRIVATE_KEY`` (``--key-env NAME`` reads another variable); it is never
accepted as a command-line argument, where ``ps`` would show it. ``zerog --help`` lists the commands.

Output: tables for people; with ``--json`` exactly one JSON document on stdout and nothing else there
(amounts are strings of 0G, with ``*_neuron`` twins as strings of integer neuron). Progress, prompts and
the chat footer go to stderr.

Commands that move funds or revoke keys (``create-ledger``, ``deposit``, ``refund``, ``transfer``,
``retrieve``, ``acknowledge --amount``, ``api-key revoke``, ``api-key revoke-all``) ask ``Proceed? [y/N]``
on the terminal; without a terminal they refuse unless ``--yes`` is given.

Exit codes:

* 0 — success.
* 1 — unexpected error (a bug, or an error zerog-compute does not classify); ``-v`` shows the traceback.
* 2 — usage or configuration error: bad arguments or amounts, a PROVIDER that is not an address, no
  private key, unknown network (``ConfigurationError``), or the ``rich`` extra is missing.
* 3 — refused or cancelled: a confirmation was answered "no", or was needed without a terminal and
  without ``--yes``. Nothing was sent.
* 4 — chain or ledger error (``ChainError``, ``LedgerError``: no ledger, insufficient balance, budget,
  contract reverts).
* 5 — provider error (``ProviderError``, ``VerificationError``, ``NotAcknowledgedError``,
  ``ServiceNotFoundError`` — a well-formed address with no registered service), and ``zerog verify``
  when the verdict is not ``verified``.
* 130 — interrupted with Ctrl-C (outside a confirmation prompt, where Ctrl-C means "no": 3).

Errors print one line ``zerog: <message>`` on stderr; with ``--json`` they are also written to stdout as
``{"error": {"type": ..., "message": ..., "exit_code": ...}}``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["EXIT_CHAIN", "EXIT_ERROR", "EXIT_OK", "EXIT_PROVIDER", "EXIT_REFUSED", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_CHAIN = 4
EXIT_PROVIDER = 5
EXIT_INTERRUPTED = 130

MISSING_EXTRA = "the zerog CLI needs its extra: pip install 'zerog-compute[cli]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zerog`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    try:
        import rich  # noqa: F401  (only checks that the extra is installed)
    except ImportError:
        print(f"zerog: {MISSING_EXTRA}", file=sys.stderr)
        return EXIT_USAGE
    from .app import run

    return run(list(sys.argv[1:] if argv is None else argv))
