"""One invocation's state: parsed arguments, output, and the client (built on first use)."""

from __future__ import annotations

import argparse
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..client import ZeroG
from ..errors import ConfigurationError
from ..services import checksum
from ..units import to_neuron
from ._ui import UI

DEFAULT_KEY_ENV = "ZG_PRIVATE_KEY"


@dataclass
class Session:
    """What a command handler gets."""

    args: argparse.Namespace
    ui: UI
    has_key: bool = False
    _client: ZeroG | None = field(default=None, repr=False)
    _secrets: list[str] = field(default_factory=list, repr=False)

    @property
    def secrets(self) -> list[str]:
        """Values that must never be printed (the private key, once read)."""
        return self._secrets

    def client(self, *, key_required: bool = True, **options: Any) -> ZeroG:
        """The client for ``--network``/``--rpc`` with the key from ``$<--key-env>`` (``options``: more of
        ``ZeroG``'s keyword arguments, e.g. ``timeout=``, for the first call).

        With ``key_required=False`` (read-only discovery) a missing key is replaced by a throwaway one
        and :attr:`has_key` stays False, so user-specific columns show "—".
        """
        if self._client is not None:
            return self._client
        var = self.args.key_env
        key = os.environ.get(var, "").strip()
        if key:
            self._secrets.append(key)
            self.has_key = True
        elif key_required:
            raise ConfigurationError(
                f"no private key: set the environment variable {var} to your wallet's key "
                "(it is never accepted on the command line; --key-env NAME reads another variable)"
            )
        else:
            key = "0x" + secrets.token_hex(32)
        try:
            self._client = ZeroG(private_key=key, network=self.args.network, rpc_url=self.args.rpc, **options)
        except ConfigurationError as exc:
            if self.has_key and "private key" in str(exc):
                raise ConfigurationError(f"{var}: {exc}") from None
            raise
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def provider_arg(text: str) -> str:
    """A PROVIDER argument: a 0x address, checksummed (a usage error, exit 2, otherwise)."""
    try:
        return checksum(text.strip(), name="PROVIDER")
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def amount_arg(text: str) -> int:
    """An AMOUNT argument in 0G (``1.5``, ``1.5 0G``), exact: the neuron value. Never parsed as a float."""
    try:
        return to_neuron(text, name="AMOUNT")
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc).split("; write 0G amounts as", 1)[0]) from None
