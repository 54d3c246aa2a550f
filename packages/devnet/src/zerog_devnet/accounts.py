"""Deterministic development keys: anvil's public dev mnemonic plus derived TEE signer keys.

These keys are public test material. They are fine for a local chain and worthless anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from eth_account import Account

DEV_MNEMONIC = "test test test test test test test test test test test junk"
OWNER_INDEX = 0
FIRST_PROVIDER_INDEX = 1
FIRST_USER_INDEX = 20
TEE_KEY_OFFSET = 1000
MODEL_TEE_KEY_OFFSET = 2000

Account.enable_unaudited_hdwallet_features()


@dataclass(frozen=True)
class DevAccount:
    """A funded dev account. ``private_key`` is a public anvil dev key."""

    address: str
    private_key: str

    def __repr__(self) -> str:
        return f"DevAccount(address={self.address!r})"


@cache
def dev_account(index: int) -> DevAccount:
    """Account ``index`` of the dev mnemonic (``m/44'/60'/0'/0/index``)."""
    acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return DevAccount(acct.address, "0x" + bytes(acct.key).hex())


def tee_account(provider_slot: int) -> DevAccount:
    """The TEE signer key of provider ``provider_slot`` (never funded, only signs)."""
    return dev_account(TEE_KEY_OFFSET + provider_slot)


def model_tee_account(provider_slot: int) -> DevAccount:
    """The key of provider ``provider_slot``'s separate model TEE (``TargetTeeAddress``; never funded)."""
    return dev_account(MODEL_TEE_KEY_OFFSET + provider_slot)
