"""Copy the repository's package.json and package-lock.json into zerog-devnet (``zerog_devnet/npm/``).

``zerog-devnet install-node`` installs from those copies, so pip users get the versions and integrity pins the
repository tests with. ``--check`` fails when the copies differ (``make lint``); without it they are rewritten.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "packages" / "devnet" / "src" / "zerog_devnet" / "npm"
FILES = ("package.json", "package-lock.json")


def stale() -> list[str]:
    """The shipped copies that differ from the repository's files."""
    return [
        name
        for name in FILES
        if not (SHIPPED / name).is_file() or (SHIPPED / name).read_bytes() != (ROOT / name).read_bytes()
    ]


def main(argv: list[str]) -> int:
    differing = stale()
    if "--check" in argv:
        for name in differing:
            print(f"{SHIPPED / name} differs from {ROOT / name}: run `python tools/sync_npm_lock.py`", file=sys.stderr)
        return 1 if differing else 0
    SHIPPED.mkdir(parents=True, exist_ok=True)
    for name in differing:
        (SHIPPED / name).write_bytes((ROOT / name).read_bytes())
        print(f"updated {SHIPPED / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
