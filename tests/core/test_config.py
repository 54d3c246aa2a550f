"""Client configuration: keyword arguments, environment fallbacks, validation, and the chain-id check.

Construction must do no network I/O; a wrong chain must be refused on first use, never used silently.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from zerog_compute import (
    MAINNET,
    TESTNET,
    AsyncZeroG,
    ConfigurationError,
    Network,
    NetworkMismatchError,
    ZeroG,
)
from zerog_compute.networks import TESTNET_DEV, resolve_network
from zerog_devnet import Devnet

from .conftest import devnet_network

# Public anvil dev keys (accounts 0 and 1 of the "test test ... junk" mnemonic): test material only.
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
KEY_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
OTHER_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
DEAD_RPC = "http://127.0.0.1:9"  # the discard port: nothing listens there

ENV_VARS = ("ZG_PRIVATE_KEY", "ZG_NETWORK", "ZG_RPC_URL", "ZG_DEVNET_FILE")
CLIENTS = [pytest.param(ZeroG, id="sync"), pytest.param(AsyncZeroG, id="async")]

BAD_KEYS = [
    pytest.param("0x1234", id="short"),
    pytest.param("0x" + "zz" * 32, id="non-hex"),
    pytest.param(KEY[:-1], id="0x+63-digits"),
    pytest.param(KEY + "0", id="0x+65-digits"),
    pytest.param("", id="empty"),
    pytest.param("0x" + "00" * 32, id="zero"),
    pytest.param("0x" + "ff" * 32, id="above-curve-order"),
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without any ZG_* variable from the developer's shell."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_http(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every HTTP request any httpx client tries to send."""
    attempts: list[str] = []

    def refuse(self: Any, request: httpx.Request) -> httpx.Response:
        attempts.append(str(request.url))
        raise httpx.ConnectError("network I/O during construction", request=request)

    async def arefuse(self: Any, request: httpx.Request) -> httpx.Response:
        return refuse(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", arefuse)
    return attempts


@pytest.fixture
def rpc_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(url, JSON-RPC method or HTTP method) of every request sent, sync or async; requests still go out."""
    sent: list[tuple[str, str]] = []
    sync_send, async_send = httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request

    def note(request: httpx.Request) -> None:
        try:
            method = json.loads(request.content).get("method", request.method)
        except (ValueError, AttributeError, httpx.RequestNotRead):
            method = request.method
        sent.append((str(request.url), method))

    def spy(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        note(request)
        return sync_send(self, request)

    async def aspy(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        note(request)
        return await async_send(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", spy)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", aspy)
    return sent


def close(client: ZeroG | AsyncZeroG) -> None:
    """Close a client from a synchronous test."""
    if isinstance(client, ZeroG):
        client.close()
    else:
        asyncio.run(client.aclose())


# --------------------------------------------------------------------------- private key


@pytest.mark.parametrize("cls", CLIENTS)
def test_missing_key_names_argument_and_env(cls: type[ZeroG]) -> None:
    with pytest.raises(ConfigurationError) as info:
        cls()
    assert "ZG_PRIVATE_KEY" in str(info.value)
    assert "private_key=" in str(info.value)


@pytest.mark.parametrize("cls", CLIENTS)
def test_blank_env_key_counts_as_missing(cls: type[ZeroG], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_PRIVATE_KEY", "   ")
    with pytest.raises(ConfigurationError, match="ZG_PRIVATE_KEY"):
        cls()


@pytest.mark.parametrize("cls", CLIENTS)
def test_env_key_is_used_when_argument_omitted(
    cls: type[ZeroG], monkeypatch: pytest.MonkeyPatch, no_http: list[str]
) -> None:
    monkeypatch.setenv("ZG_PRIVATE_KEY", KEY)
    client = cls()
    assert client.address == KEY_ADDRESS
    close(client)
    assert no_http == []


@pytest.mark.parametrize("cls", CLIENTS)
def test_explicit_key_beats_env(cls: type[ZeroG], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_PRIVATE_KEY", KEY)
    client = cls(private_key=OTHER_KEY)
    assert client.address == OTHER_ADDRESS
    close(client)


@pytest.mark.parametrize("form", [KEY, KEY[2:], KEY[2:].upper(), "0X" + KEY[2:], f"  {KEY}\n"])
def test_accepted_key_forms(form: str) -> None:
    with ZeroG(private_key=form) as zg:
        assert zg.address == KEY_ADDRESS


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("bad", BAD_KEYS)
def test_bad_key_is_a_configuration_error_that_does_not_echo_it(cls: type[ZeroG], bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        cls(private_key=bad)
    message = str(info.value)
    assert "private key" in message
    if len(bad) > 8:
        assert bad.lower() not in message.lower() and bad[2:].lower() not in message.lower()


@pytest.mark.parametrize("bad", BAD_KEYS[:3])
def test_bad_env_key_names_the_variable(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_PRIVATE_KEY", bad)
    with pytest.raises(ConfigurationError, match="ZG_PRIVATE_KEY") as info:
        ZeroG()
    assert bad[2:].lower() not in str(info.value).lower()


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("policy", ["bogus", "Warn", "", None])
def test_unknown_verification_policy(cls: type[ZeroG], policy: Any) -> None:
    with pytest.raises(ConfigurationError, match="verification"):
        cls(private_key=KEY, verification=policy)


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("policy", ["off", "warn", "enforce"])
def test_known_verification_policies(cls: type[ZeroG], policy: str) -> None:
    close(cls(private_key=KEY, verification=policy))


# --------------------------------------------------------------------------- network and RPC


@pytest.mark.parametrize("cls", CLIENTS)
def test_default_network_is_testnet(cls: type[ZeroG]) -> None:
    client = cls(private_key=KEY)
    assert client.network == TESTNET
    close(client)


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("name", "chain_id", "ledger", "inference", "rpc"),
    [
        (
            "mainnet",
            16661,
            "0x2dE54c845Cd948B72D2e32e39586fe89607074E3",
            "0x47340d900bdFec2BD393c626E12ea0656F938d84",
            "https://evmrpc.0g.ai",
        ),
        (
            "testnet",
            16602,
            "0xE70830508dAc0A97e6c087c75f402f9Be669E406",
            "0xa79F4c8311FF93C06b8CfB403690cc987c93F91E",
            "https://evmrpc-testnet.0g.ai",
        ),
        (
            "testnet-dev",
            16602,
            "0x815B93ab4Ba4BDF530dbF1552649a3c534F8BbF7",
            "0x41bD7Ac5c19000A974D5c192bcd5FB67b56C85c5",
            "https://evmrpc-testnet.0g.ai",
        ),
    ],
)
def test_env_network_picks_the_network(
    cls: type[ZeroG],
    name: str,
    chain_id: int,
    ledger: str,
    inference: str,
    rpc: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZG_PRIVATE_KEY", KEY)
    monkeypatch.setenv("ZG_NETWORK", name)
    client = cls()
    assert client.network.name == name
    assert client.network.chain_id == chain_id
    assert client.network.ledger == ledger and client.network.inference == inference
    assert client.network.rpc_url == rpc
    close(client)


@pytest.mark.parametrize(("value", "dev"), [("true", True), ("1", True), ("yes", False), ("0", False), ("", False)])
@pytest.mark.parametrize("variable", ["ZG_DEV_MODE", "NEXT_PUBLIC_ZG_DEV_MODE"])
def test_dev_mode_makes_testnet_the_sdks_testnet_dev(
    variable: str, value: str, dev: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's ``isDevMode()``: on chain 16602 it uses the ``testnetDev`` contracts."""
    monkeypatch.setenv(variable, value)
    assert resolve_network("testnet") == (TESTNET_DEV if dev else TESTNET)
    assert resolve_network("mainnet") == MAINNET and resolve_network("testnet-dev") == TESTNET_DEV


@pytest.mark.parametrize("cls", CLIENTS)
def test_env_rpc_url_overrides_the_network_default(cls: type[ZeroG], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_NETWORK", "mainnet")
    monkeypatch.setenv("ZG_RPC_URL", "http://rpc.example:8545")
    client = cls(private_key=KEY)
    assert client.network.rpc_url == "http://rpc.example:8545"
    assert client.network.chain_id == MAINNET.chain_id and client.network.ledger == MAINNET.ledger
    assert MAINNET.rpc_url == "https://evmrpc.0g.ai"  # the shared constant is not mutated
    close(client)


@pytest.mark.parametrize("cls", CLIENTS)
def test_explicit_arguments_beat_env(cls: type[ZeroG], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_PRIVATE_KEY", KEY)
    monkeypatch.setenv("ZG_NETWORK", "mainnet")
    monkeypatch.setenv("ZG_RPC_URL", "http://from-env.example:8545")
    client = cls(private_key=OTHER_KEY, network="testnet", rpc_url="http://from-arg.example:8545")
    assert client.address == OTHER_ADDRESS
    assert client.network.name == "testnet" and client.network.chain_id == 16602
    assert client.network.ledger == TESTNET.ledger
    assert client.network.rpc_url == "http://from-arg.example:8545"
    close(client)


def test_explicit_network_object_beats_env_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_NETWORK", "mainnet")
    custom = TESTNET.model_copy(update={"name": "custom"})
    with ZeroG(private_key=KEY, network=custom) as zg:
        assert zg.network == custom


def test_explicit_network_object_rpc_beats_env_rpc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_RPC_URL", "http://from-env.example:8545")
    custom = TESTNET.with_rpc("http://from-object.example:8545")
    with ZeroG(private_key=KEY, network=custom) as zg:
        assert zg.network.rpc_url == "http://from-object.example:8545"
    with ZeroG(private_key=KEY, network=custom, rpc_url="http://from-arg.example:8545") as zg:
        assert zg.network.rpc_url == "http://from-arg.example:8545"  # the argument still wins


def test_a_network_restored_without_its_rpc_url_takes_the_env_or_the_public_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Serialised forms and pickles of the adapters leave RPC URLs out: the Network comes back with an empty one."""
    monkeypatch.delenv("ZG_RPC_URL", raising=False)
    with ZeroG(private_key=KEY, network=MAINNET.with_rpc("")) as zg:
        assert zg.network.rpc_url == MAINNET.rpc_url  # a public network: its public endpoint
    custom = TESTNET.model_copy(update={"name": "custom", "chain_id": 4242, "rpc_url": ""})
    with pytest.raises(ConfigurationError, match=r"'custom' has no RPC URL .* rpc_url=\.\.\. or set \$ZG_RPC_URL"):
        ZeroG(private_key=KEY, network=custom)
    monkeypatch.setenv("ZG_RPC_URL", "http://from-env.example:8545")
    with ZeroG(private_key=KEY, network=custom) as zg:
        assert zg.network.rpc_url == "http://from-env.example:8545"


@pytest.mark.parametrize("cls", CLIENTS)
def test_unknown_network_lists_the_known_ones(cls: type[ZeroG], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as info:
        cls(private_key=KEY, network="moonnet")
    message = str(info.value)
    assert "moonnet" in message
    assert all(known in message for known in ("testnet", "mainnet", "devnet"))

    monkeypatch.setenv("ZG_NETWORK", "galileo")
    with pytest.raises(ConfigurationError, match="galileo") as info:
        cls(private_key=KEY)
    assert all(known in str(info.value) for known in ("testnet", "mainnet", "devnet"))


@pytest.mark.parametrize("cls", CLIENTS)
def test_construction_does_no_network_io(cls: type[ZeroG], no_http: list[str]) -> None:
    client = cls(private_key=KEY, network="mainnet", rpc_url=DEAD_RPC)
    assert client.network.rpc_url == DEAD_RPC
    assert client.rpc_calls == 0
    assert repr(client)  # touching the public properties does no I/O either
    assert client.address == KEY_ADDRESS
    close(client)
    assert no_http == []


# --------------------------------------------------------------------------- devnet description file


def test_env_devnet_reads_the_description_file(devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    description = devnet.write_description(tmp_path / "d.json")
    monkeypatch.setenv("ZG_DEVNET_FILE", str(description))
    monkeypatch.setenv("ZG_NETWORK", "devnet")
    monkeypatch.setenv("ZG_PRIVATE_KEY", devnet.users[0].private_key)
    with ZeroG() as zg:
        assert zg.network.name == "devnet"
        assert zg.network.chain_id == devnet.chain_id == 31337
        assert zg.network.rpc_url == devnet.rpc_url
        assert zg.network.ledger == devnet.contracts.ledger
        assert zg.network.inference == devnet.contracts.inference
        assert zg.address == devnet.users[0].address
        services = zg.services.list()
    expected = {p.address for p in devnet.providers if p.acknowledged}
    assert {s.provider for s in services} == expected and expected


def test_devnet_argument_reads_the_description_file(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZG_DEVNET_FILE", str(devnet.write_description(tmp_path / "d.json")))
    with ZeroG(private_key=devnet.users[0].private_key, network="devnet") as zg:
        assert zg.network.chain_id == devnet.chain_id
        assert zg.ledger.sub_accounts() == []


@pytest.mark.anyio
async def test_async_env_devnet_reads_the_description_file(
    anyio_backend: str, devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZG_DEVNET_FILE", str(devnet.write_description(tmp_path / "d.json")))
    monkeypatch.setenv("ZG_NETWORK", "devnet")
    monkeypatch.setenv("ZG_PRIVATE_KEY", devnet.users[0].private_key)
    async with AsyncZeroG() as azg:
        assert azg.network.chain_id == devnet.chain_id
        services = await azg.services.list()
    assert {s.provider for s in services} == {p.address for p in devnet.providers if p.acknowledged}


@pytest.mark.parametrize("cls", CLIENTS)
def test_missing_devnet_file_says_how_to_start_one(
    cls: type[ZeroG], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZG_DEVNET_FILE", str(tmp_path / "absent.json"))
    monkeypatch.setenv("ZG_NETWORK", "devnet")
    with pytest.raises(ConfigurationError, match="zerog-devnet up"):
        cls(private_key=KEY)
    with pytest.raises(ConfigurationError, match="zerog-devnet up"):
        cls(private_key=KEY, network="devnet")


@pytest.mark.parametrize("content", ["not json", "[]", json.dumps({"chain_id": 31337})])
def test_broken_devnet_file_is_a_configuration_error(
    content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "d.json"
    path.write_text(content)
    monkeypatch.setenv("ZG_DEVNET_FILE", str(path))
    with pytest.raises(ConfigurationError, match="zerog-devnet up"):
        ZeroG(private_key=KEY, network="devnet")


# --------------------------------------------------------------------------- chain id check


def mismatched(devnet: Devnet) -> Network:
    """Mainnet's chain id, but the devnet's RPC (chain id 31337) and contracts."""
    return Network(
        name="x",
        chain_id=16661,
        rpc_url=devnet.rpc_url,
        ledger=devnet.contracts.ledger,
        inference=devnet.contracts.inference,
    )


def only_chain_id_was_asked(sent: list[tuple[str, str]], devnet: Devnet) -> None:
    assert sent, "the chain id was never checked"
    assert {method for _, method in sent} == {"eth_chainId"}, sent
    assert all(url.rstrip("/") == devnet.rpc_url.rstrip("/") for url, _ in sent)


def test_chain_id_mismatch_is_refused_on_first_call(devnet: Devnet, rpc_log: list[tuple[str, str]]) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    rpc_log.clear()
    with ZeroG(private_key=devnet.users[0].private_key, network=mismatched(devnet)) as zg:
        with pytest.raises(NetworkMismatchError) as info:
            zg.ledger.get()
        assert "31337" in str(info.value) and "16661" in str(info.value)
        # Still refused on later calls: the failed check is not remembered as a pass.
        with pytest.raises(NetworkMismatchError):
            zg.services.list()
        with pytest.raises(NetworkMismatchError):
            zg.chat.completions.create(
                provider=devnet.provider("chat-a").info.address, messages=[{"role": "user", "content": "hi"}]
            )
    only_chain_id_was_asked(rpc_log, devnet)


def test_chain_id_mismatch_from_env_rpc(devnet: Devnet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_NETWORK", "mainnet")
    monkeypatch.setenv("ZG_RPC_URL", devnet.rpc_url)
    with ZeroG(private_key=devnet.users[0].private_key) as zg, pytest.raises(NetworkMismatchError) as info:
        zg.services.list()
    assert "31337" in str(info.value) and "16661" in str(info.value)


def test_matching_chain_id_proceeds(zg: ZeroG) -> None:
    assert zg.ledger.sub_accounts() == []
    assert zg.rpc_calls >= 2  # eth_chainId, then the call itself


@pytest.mark.anyio
async def test_async_chain_id_mismatch_is_refused_on_first_call(
    anyio_backend: str, devnet: Devnet, rpc_log: list[tuple[str, str]]
) -> None:
    async with AsyncZeroG(private_key=devnet.users[0].private_key, network=mismatched(devnet)) as azg:
        with pytest.raises(NetworkMismatchError) as info:
            await azg.ledger.get()
        assert "31337" in str(info.value) and "16661" in str(info.value)
        with pytest.raises(NetworkMismatchError):
            await azg.services.list()
    only_chain_id_was_asked(rpc_log, devnet)


@pytest.mark.anyio
async def test_async_construction_does_no_network_io(anyio_backend: str, no_http: list[str]) -> None:
    async with AsyncZeroG(private_key=KEY, network="mainnet", rpc_url=DEAD_RPC) as azg:
        assert azg.rpc_calls == 0
    assert no_http == []


# --------------------------------------------------------------------------- injected HTTP clients


def rpc_methods(requests: list[httpx.Request]) -> list[str]:
    return [json.loads(request.content)["method"] for request in requests]


def test_injected_clients_carry_the_traffic_and_stay_open(devnet: Devnet) -> None:
    chain: list[httpx.Request] = []
    rpc = httpx.Client(event_hooks={"request": [chain.append]})
    http = httpx.Client()
    with ZeroG(
        private_key=devnet.users[0].private_key,
        network=devnet_network(devnet),
        http_client=http,
        rpc_http_client=rpc,
    ) as zg:
        assert zg.ledger.sub_accounts() == []
        assert zg.services.list()
    assert rpc_methods(chain)[0] == "eth_chainId" and "eth_call" in rpc_methods(chain)
    assert len(chain) == zg.rpc_calls and all(str(r.url).startswith(devnet.rpc_url) for r in chain)
    assert not rpc.is_closed and not http.is_closed  # injected: the caller owns them
    rpc.close()
    http.close()


@pytest.mark.anyio
async def test_async_injected_clients_carry_the_traffic_and_stay_open(anyio_backend: str, devnet: Devnet) -> None:
    chain: list[httpx.Request] = []

    async def note(request: httpx.Request) -> None:
        chain.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [note]}) as rpc, httpx.AsyncClient() as http:
        network = devnet_network(devnet)
        key = devnet.users[0].private_key
        async with AsyncZeroG(private_key=key, network=network, http_client=http, rpc_http_client=rpc) as azg:
            assert await azg.ledger.sub_accounts() == []
        assert rpc_methods(chain)[0] == "eth_chainId" and len(chain) == azg.rpc_calls
        assert not rpc.is_closed and not http.is_closed


def test_close_closes_only_the_clients_it_made() -> None:
    http, rpc = httpx.Client(), httpx.Client()
    with ZeroG(private_key=KEY, http_client=http) as zg_http, ZeroG(private_key=KEY, rpc_http_client=rpc) as zg_rpc:
        pass
    assert not http.is_closed and not rpc.is_closed
    assert zg_http._rpc_http.is_closed and zg_rpc._http.is_closed
    http.close()
    rpc.close()

    async def scenario() -> None:
        ahttp, arpc = httpx.AsyncClient(), httpx.AsyncClient()
        async with (
            AsyncZeroG(private_key=KEY, http_client=ahttp) as one,
            AsyncZeroG(private_key=KEY, rpc_http_client=arpc) as other,
        ):
            pass
        assert not ahttp.is_closed and not arpc.is_closed
        assert one._rpc_http.is_closed and other._http.is_closed
        await ahttp.aclose()
        await arpc.aclose()

    asyncio.run(scenario())
