"""Our hand-written ABI equals the SDK's; reverts decode into readable ContractRevertErrors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from eth_abi.abi import encode
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, Wei

from zerog_compute._abi import (
    ERRORS_BY_SELECTOR,
    GENERIC_ERRORS,
    INFERENCE_ABI,
    LEDGER_ABI,
    canonical_type,
    decode_revert,
    generic_revert_message,
    parse_signature,
    revert_message,
    selector,
    signature_text,
)
from zerog_compute.contracts import Contract as CallEncoder
from zerog_compute.contracts import revert_from_rpc
from zerog_compute.errors import ContractRevertError, RpcError
from zerog_devnet import Devnet, artifacts

NEURON = 10**18
ADDRESS = "0x71bE63f3384f5fb98995898A86B02Fb2426c5788"
OURS = {"LedgerManager": LEDGER_ABI, "InferenceServing": INFERENCE_ABI}


def normalize(value: Any) -> Any:
    """Drop ``internalType`` and ``anonymous: false`` recursively."""
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        skip = {"internalType"} | ({"anonymous"} if value.get("anonymous") is False else set())
        return {k: normalize(v) for k, v in value.items() if k not in skip}
    return value


def all_errors() -> list[dict[str, Any]]:
    return [e for abi in OURS.values() for e in abi if e["type"] == "error"]


# ------------------------------------------------------------------------------------------ parser


def test_parse_function_with_nested_tuples() -> None:
    entry = parse_signature(
        "function getAccount(address user, address provider) view returns ((address user, uint256 nonce,"
        " (uint256 index, bool processed)[] refunds, string additionalInfo))"
    )
    assert entry == {
        "type": "function",
        "name": "getAccount",
        "stateMutability": "view",
        "inputs": [{"name": "user", "type": "address"}, {"name": "provider", "type": "address"}],
        "outputs": [
            {
                "name": "",
                "type": "tuple",
                "components": [
                    {"name": "user", "type": "address"},
                    {"name": "nonce", "type": "uint256"},
                    {
                        "name": "refunds",
                        "type": "tuple[]",
                        "components": [{"name": "index", "type": "uint256"}, {"name": "processed", "type": "bool"}],
                    },
                    {"name": "additionalInfo", "type": "string"},
                ],
            }
        ],
    }


def test_parse_payable_error_and_event() -> None:
    assert parse_signature("function addLedger(string additionalInfo) payable returns (uint256, uint256)") == {
        "type": "function",
        "name": "addLedger",
        "stateMutability": "payable",
        "inputs": [{"name": "additionalInfo", "type": "string"}],
        "outputs": [{"name": "", "type": "uint256"}, {"name": "", "type": "uint256"}],
    }
    assert parse_signature("function deleteLedger()")["stateMutability"] == "nonpayable"
    assert parse_signature("error InsufficientAvailableBalance(uint256 available, uint256 required)") == {
        "type": "error",
        "name": "InsufficientAvailableBalance",
        "inputs": [{"name": "available", "type": "uint256"}, {"name": "required", "type": "uint256"}],
    }
    event = parse_signature("event BalanceUpdated(address indexed user, uint256 amount)")
    assert event == {
        "type": "event",
        "name": "BalanceUpdated",
        "anonymous": False,
        "inputs": [
            {"name": "user", "type": "address", "indexed": True},
            {"name": "amount", "type": "uint256", "indexed": False},
        ],
    }


def test_parse_aliases_arrays_and_tuple_keyword() -> None:
    entry = parse_signature("function f(uint a, int[2][] b, tuple(bytes32 h, bytes d)[3] c) pure returns (bool)")
    assert [canonical_type(p) for p in entry["inputs"]] == ["uint256", "int256[2][]", "(bytes32,bytes)[3]"]
    assert signature_text(entry) == "f(uint256,int256[2][],(bytes32,bytes)[3])"
    assert entry["stateMutability"] == "pure"


@pytest.mark.parametrize(
    "sig",
    [
        "",
        "function",
        "constructor f()",
        "function f(",
        "function f(uint256 a",
        "function f(uint7 a)",
        "function f(Foo a)",
        "function f(uint256 a) returns",
        "function f() view whatever",
        "error E() view",
        "event E(uint256 a) extra",
        "function f(uint256 a;)",
        "function f(uint256[x] a)",
    ],
)
def test_parse_rejects_bad_signatures(sig: str) -> None:
    with pytest.raises(ValueError):
        parse_signature(sig)


# ------------------------------------------------------------------------------- equality with SDK


@pytest.mark.parametrize("contract", sorted(OURS))
def test_every_fragment_equals_the_sdk_abi(contract: str) -> None:
    sdk = artifacts.load(contract).abi
    for ours in OURS[contract]:
        matches = [normalize(e) for e in sdk if e.get("name") == ours["name"] and e["type"] == ours["type"]]
        assert matches, f"{ours['type']} {ours['name']} is not in the SDK's {contract} ABI"
        assert normalize(ours) in matches, f"{ours['name']} differs from the SDK's {contract} ABI"


@pytest.mark.parametrize("contract", sorted(OURS))
def test_all_custom_errors_of_the_sdk_are_covered(contract: str) -> None:
    sdk_errors = {e["name"] for e in artifacts.load(contract).abi if e["type"] == "error"}
    assert {e["name"] for e in OURS[contract] if e["type"] == "error"} == sdk_errors


def test_required_functions_and_events_are_present() -> None:
    names = {e["name"] for abi in OURS.values() for e in abi}
    assert {
        "addLedger",
        "depositFund",
        "depositFundFor",
        "refund",
        "transferFund",
        "retrieveFund",
        "deleteLedger",
        "getLedger",
        "getLedgerProviders",
        "getServiceInfo",
        "MIN_ACCOUNT_BALANCE",
        "MIN_TRANSFER_AMOUNT",
        "getService",
        "getAllServices",
        "getAccount",
        "accountExists",
        "getPendingRefund",
        "lockTime",
        "isTokenRevoked",
        "acknowledgeTEESigner",
        "revokeToken",
        "revokeAllTokens",
        "BalanceUpdated",
        "TEESettlementResult",
        "RefundRequested",
        "TokenRevoked",
        "AllTokensRevoked",
    } <= names


@pytest.mark.parametrize(
    ("abi", "name", "expected"),
    [
        (LEDGER_ABI, "addLedger", "0xc5e53f7e"),
        (LEDGER_ABI, "depositFund", "0x8d0d8cb6"),
        (LEDGER_ABI, "depositFundFor", "0xf585f3ea"),
        (LEDGER_ABI, "transferFund", "0x2ba43b82"),
        (LEDGER_ABI, "retrieveFund", "0x31404a19"),
        (LEDGER_ABI, "getLedger", "0xf7cd6af9"),
        (LEDGER_ABI, "MIN_ACCOUNT_BALANCE", "0xac30b622"),
        (LEDGER_ABI, "LedgerNotExists", "0x7d2d536b"),
        (LEDGER_ABI, "InsufficientAvailableBalance", "0xadb9e043"),
        (INFERENCE_ABI, "getAccount", "0xfd590847"),
        (INFERENCE_ABI, "getService", "0x15a52302"),
        (INFERENCE_ABI, "acknowledgeTEESigner", "0x7ff6fc1c"),
        (INFERENCE_ABI, "revokeAllTokens", "0xcab33d8f"),
        (INFERENCE_ABI, "AccountNotExists", "0x08ca03ac"),
        (INFERENCE_ABI, "AdditionalInfoTooLong", "0xef54fd9d"),
    ],
)
def test_selectors_match_the_protocol_table(abi: list[dict[str, Any]], name: str, expected: str) -> None:
    (entry,) = [e for e in abi if e["name"] == name]
    assert selector(entry) == expected
    assert Web3.keccak(text=signature_text(entry))[:4].hex() == expected[2:]


# ---------------------------------------------------------------------------------- decode/messages


def sample(kind: str) -> Any:
    return {"address": ADDRESS, "string": "why", "bool": True}.get(kind, 2 * NEURON)


@pytest.mark.parametrize("entry", all_errors(), ids=lambda e: signature_text(e))
def test_every_error_round_trips_and_has_a_message(entry: dict[str, Any]) -> None:
    types = [canonical_type(p) for p in entry["inputs"]]
    args = tuple(sample(t) for t in types)
    decoded = decode_revert(selector(entry) + encode(types, list(args)).hex())
    assert decoded == (entry["name"], args)
    message = revert_message(entry["name"], args)
    generic = generic_revert_message(entry["name"], args)
    assert (message == generic) == (entry["name"] in GENERIC_ERRORS)


def test_generic_list_only_names_our_errors() -> None:
    assert {e["name"] for e in all_errors()} >= GENERIC_ERRORS


def test_messages_say_what_to_do() -> None:
    assert revert_message("LedgerNotExists", (ADDRESS,)) == (
        "No ledger for this wallet yet. Create one with zg.ledger.create(amount) (minimum 3 0G)."
    )
    assert revert_message("LedgerExists", (ADDRESS,)) == (
        "A ledger already exists for this wallet; add funds with zg.ledger.deposit(amount)."
    )
    message = revert_message("InsufficientAvailableBalance", (NEURON // 2, 3 * NEURON))
    assert "0.5 0G available" in message
    assert "3 0G required" in message
    message = revert_message("AccountNotExists", (ADDRESS, ADDRESS))
    assert message.startswith(f"No sub-account with provider {ADDRESS} yet.")
    assert "zg.ledger.transfer(provider, amount)" in message
    assert revert_message("Unknown", (1, ADDRESS, "x", b"\x01")) == (
        f"contract reverted with Unknown(1, {ADDRESS}, 'x', 0x01)"
    )
    assert revert_message("LedgerNotExists", ()) == revert_message("LedgerNotExists", (ADDRESS,))
    assert revert_message("TooManyProviders", ()) == "contract reverted with TooManyProviders()"


def test_decode_builtin_and_bad_data() -> None:
    reason = "0x08c379a0" + encode(["string"], ["Insufficient balance"]).hex()
    assert decode_revert(reason) == ("Error", ("Insufficient balance",))
    assert decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])) == ("Panic", (0x11,))
    assert "overflow" in revert_message("Panic", (0x11,))
    assert decode_revert("0xdeadbeef") is None
    assert decode_revert("0x7d2d") is None
    assert decode_revert("0x7d2d536b") is None  # known selector, missing argument
    assert decode_revert("0xzz") is None
    assert decode_revert(b"") is None
    assert len(ERRORS_BY_SELECTOR) == len({selector(e) for e in all_errors()}) + 2


@given(st.sampled_from(sorted(ERRORS_BY_SELECTOR)), st.binary(max_size=200))
def test_decode_never_raises_on_junk(prefix: bytes, tail: bytes) -> None:
    decode_revert(tail)
    for data in (prefix + tail, "0x" + (prefix + tail).hex()):
        decoded = decode_revert(data)
        assert decoded is None or decoded[0] == ERRORS_BY_SELECTOR[prefix]["name"]
    error = revert_from_rpc(RpcError("eth_call", {"code": 3, "data": "0x" + (prefix + tail).hex()}))
    assert isinstance(error, ContractRevertError)


# ----------------------------------------------------------------------------------- real devnet


def contracts(net: Devnet) -> tuple[Contract, Contract]:
    w3 = net.w3
    ledger = w3.eth.contract(address=Web3.to_checksum_address(net.contracts.ledger), abi=LEDGER_ABI)
    inference = w3.eth.contract(address=Web3.to_checksum_address(net.contracts.inference), abi=INFERENCE_ABI)
    return ledger, inference


def revert_of(net: Devnet, method: str, to: str, abi: list[dict[str, Any]], name: str, *args: Any, **tx: Any) -> Any:
    """Send ``name(*args)`` to the node as raw JSON-RPC and decode its revert the way the client does."""
    request = {"to": to, "data": CallEncoder(to, abi).encode(name, args), **tx}
    params: list[Any] = [request, "latest"] if method == "eth_call" else [request]
    answer = httpx.post(net.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
    assert "error" in answer, f"{name} did not revert: {answer}"
    error = revert_from_rpc(RpcError(method, answer["error"]))
    assert error is not None, answer["error"]
    return error


@pytest.mark.devnet
def test_devnet_reads_decode_with_our_abi(devnet: Devnet) -> None:
    ledger, inference = contracts(devnet)
    provider = devnet.providers[0]
    service = inference.functions.getService(provider.address).call()
    assert service[0] == provider.address
    assert service[2] == provider.url
    info = ledger.functions.getServiceInfo(inference.address).call()
    assert info[4] == "inference-v1.0"
    assert ledger.functions.MIN_ACCOUNT_BALANCE().call() == 3 * NEURON
    assert ledger.functions.MIN_TRANSFER_AMOUNT().call() == NEURON


@pytest.mark.devnet
def test_devnet_missing_ledger_and_sub_account(devnet: Devnet) -> None:
    ledger, inference = contracts(devnet)
    user = devnet.users[0].address
    provider = devnet.providers[0].address
    error = revert_of(devnet, "eth_call", ledger.address, LEDGER_ABI, "getLedger", user)
    assert error.error_name == "LedgerNotExists"
    assert error.error_args == (user,)
    assert str(error) == "No ledger for this wallet yet. Create one with zg.ledger.create(amount) (minimum 3 0G)."
    error = revert_of(devnet, "eth_call", inference.address, INFERENCE_ABI, "getAccount", user, provider)
    assert error.error_name == "AccountNotExists"
    assert error.error_args == (user, provider)
    assert f"No sub-account with provider {provider} yet." in str(error)


@pytest.mark.devnet
def test_devnet_transactions_revert_with_decoded_errors(devnet: Devnet) -> None:
    ledger, inference = contracts(devnet)
    user = Web3.to_checksum_address(devnet.users[1].address)
    provider = devnet.providers[0].address
    service_name = ledger.functions.getServiceInfo(inference.address).call()[4]
    create: TxParams = {"from": user, "value": Wei(3 * NEURON)}
    tx_hash = ledger.functions.addLedger("").transact(create)
    assert devnet.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    assert ledger.functions.getLedger(user).call()[1] == 3 * NEURON

    def revert(name: str, *args: Any, value: int = 0) -> Any:
        """A transaction reverts at its gas estimate, the first step of the client's ``contracts.transact``."""
        tx = {"from": user, "value": hex(value)}
        return revert_of(devnet, "eth_estimateGas", ledger.address, LEDGER_ABI, name, *args, **tx)

    error = revert("transferFund", provider, service_name, NEURON // 10)
    assert error.error_name == "MinimumDepositRequired"
    assert error.error_args == (NEURON // 10, NEURON)
    assert "0.1 0G given, at least 1 0G required" in str(error)

    error = revert("addLedger", "", value=3 * NEURON)
    assert error.error_name == "LedgerExists"
    error = revert("refund", 10 * NEURON)
    assert error.error_name == "InsufficientBalance"
