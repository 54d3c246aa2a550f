"""Hardening (issue #7): bad user input everywhere raises a typed error whose message says what to do.

Most checks run offline: the client's RPC points at a closed port, and every client fixture asserts at
teardown that no RPC was even attempted — bad input is refused before any I/O. What needs the chain
(an unknown provider, a model the provider does not serve) runs against the local devnet. Every check
runs for ``ZeroG`` and ``AsyncZeroG``; the LangChain and LlamaIndex adapters are checked at the end.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from zerog_compute import (
    AsyncZeroG,
    ConfigurationError,
    InsufficientBalanceError,
    Network,
    RequestRejectedError,
    ServiceNotFoundError,
    ZeroG,
    ZeroGError,
)
from zerog_compute.funding import FundingPolicy
from zerog_compute.ratelimit import RateLimit
from zerog_devnet import Devnet

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
GOOD = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # a well-formed address (no service behind it offline)
BAD_CHECKSUM = GOOD[:2] + GOOD[2:].swapcase()  # mixed case, wrong EIP-55 checksum: a typo
OFFLINE = Network(
    name="offline",
    chain_id=31337,
    rpc_url="http://127.0.0.1:9",
    ledger="0x5FbDB2315678afecb367f032d93F642f64180aa3",
    inference="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
)
MESSAGES = [{"role": "user", "content": "hi"}]
ADDRESS_ADVICE = ("0x-prefixed 20-byte address", "EIP-55")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Client:
    """A ``ZeroG`` or an ``AsyncZeroG`` behind one call style: ``client.run(lambda zg: zg.ledger.get())``."""

    def __init__(self, kind: str, **config: Any) -> None:
        self.kind = kind
        cls = ZeroG if kind == "sync" else AsyncZeroG
        self.zg: Any = cls(**{"private_key": KEY, "network": OFFLINE, **config})

    def run(self, action: Callable[[Any], Any]) -> Any:
        """Run ``action``; a coroutine is awaited and a stream started (its request goes out on the first chunk)."""
        result = action(self.zg)
        if inspect.isawaitable(result):
            return asyncio.run(_settled(result))
        return _first(result)

    def close(self) -> None:
        if self.kind == "sync":
            self.zg.close()
        else:
            asyncio.run(self.zg.aclose())


async def _settled(result: Any) -> Any:
    result = await result
    return await anext(result) if isinstance(result, AsyncIterator) else result


def _first(result: Any) -> Any:
    return next(result) if isinstance(result, Iterator) else result


@pytest.fixture(params=["sync", "async"])
def offline(request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client whose RPC is a closed port; at teardown: not a single RPC was attempted."""
    client = Client(request.param)
    yield client
    client.close()
    assert client.zg.rpc_calls == 0, "bad input must be refused before any network I/O"


def refused(error: pytest.ExceptionInfo[BaseException], *phrases: str, secret: str | None = None) -> str:
    """The message names what is wrong and what to do (every phrase, case-insensitive) and keeps ``secret``."""
    message = str(error.value)
    for phrase in phrases:
        assert phrase.lower() in message.lower(), f"{phrase!r} not in {message!r}"
    if secret is not None:
        assert secret not in message and secret not in repr(error.value)
    return message


def refused_any(error: pytest.ExceptionInfo[BaseException], *alternatives: str) -> None:
    message = str(error.value).lower()
    assert any(phrase.lower() in message for phrase in alternatives), f"none of {alternatives} in {message!r}"


# --------------------------------------------------------------------------- private keys


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    ("key", "advice"),
    [
        ("0x123", "64 hex digits"),
        ("not a key at all", "64 hex digits"),
        ("0x" + "g" * 64, "64 hex digits"),
        ("0x" + "ab" * 31 + "zz", "64 hex digits"),  # one typo in an otherwise real-looking key
        ("0x" + "ab" * 33, "64 hex digits"),
        ("0x" + "ab" * 32 + " extra", "64 hex digits"),
        ("0x" + "00" * 32, "secp256k1"),  # zero: not a valid key
        ("0x" + "ff" * 32, "secp256k1"),  # above the curve order
        (12345, "64 hex digits"),
        (b"\x01" * 31, "64 hex digits"),
        (["0x" + "ab" * 32], "64 hex digits"),
        (SecretStr("0x" + "cd" * 31), "64 hex digits"),
    ],
)
def test_bad_private_key(kind: str, key: Any, advice: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        Client(kind, private_key=key)
    text = key.get_secret_value() if isinstance(key, SecretStr) else key if isinstance(key, str) else None
    refused(error, "private key", advice, secret=text if text and len(text) > 8 else None)


# --------------------------------------------------------------------------- addresses

PROVIDER_CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "ledger.transfer": lambda zg, p: zg.ledger.transfer(p, "1"),
    "ledger.sub_account": lambda zg, p: zg.ledger.sub_account(p),
    "ledger.retrieve": lambda zg, p: zg.ledger.retrieve([p]),
    "acknowledge": lambda zg, p: zg.acknowledge(p),
    "services.get": lambda zg, p: zg.services.get(p),
    "services.models": lambda zg, p: zg.services.models(p),
    "verify": lambda zg, p: zg.verify(p, "chat-1"),
    "attestation": lambda zg, p: zg.attestation(p),
    "api_keys.create": lambda zg, p: zg.api_keys.create(p),
    "api_keys.revoke": lambda zg, p: zg.api_keys.revoke(p, 1),
    "api_keys.revoke_all": lambda zg, p: zg.api_keys.revoke_all(p),
    "chat": lambda zg, p: zg.chat.completions.create(provider=p, messages=MESSAGES),
    "chat stream": lambda zg, p: zg.chat.completions.create(provider=p, messages=MESSAGES, stream=True),
    "images": lambda zg, p: zg.images.generate(provider=p, prompt="a cat"),
    "embeddings": lambda zg, p: zg.embeddings.create(provider=p, input="hi"),
    "audio": lambda zg, p: zg.audio.transcriptions.create(provider=p, file=b"RIFF"),
    "pool": lambda zg, p: zg.pool(providers=[p]).chat.completions.create(messages=MESSAGES),
}


@pytest.mark.parametrize("address", ["0x123", "0x" + "g" * 40, "12" * 19, 42, b"\x11" * 20, BAD_CHECKSUM])
@pytest.mark.parametrize("call", sorted(PROVIDER_CALLS))
def test_bad_address(offline: Client, call: str, address: Any) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: PROVIDER_CALLS[call](zg, address))
    refused(error, "provider")
    refused_any(error, *ADDRESS_ADVICE)


@pytest.mark.parametrize("call", ["chat", "images", "embeddings", "audio"])
def test_no_provider_says_pass_provider_or_use_a_pool(offline: Client, call: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: PROVIDER_CALLS[call](zg, None))
    refused(error, "pass provider=", "zg.pool(")


def test_retrieve_wants_a_list_of_addresses(offline: Client) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.ledger.retrieve(GOOD))
    refused(error, "providers must be a list", f"[{GOOD!r}]")


# --------------------------------------------------------------------------- amounts

AMOUNT_CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "create": lambda zg, a: zg.ledger.create(a),
    "deposit": lambda zg, a: zg.ledger.deposit(a),
    "refund": lambda zg, a: zg.ledger.refund(a),
    "transfer": lambda zg, a: zg.ledger.transfer(GOOD, a),
    "acknowledge": lambda zg, a: zg.acknowledge(GOOD, amount=a),
}
HINT = 'Decimal("0.1")'
BAD_AMOUNTS = [
    (-1, "must not be negative"),
    ("-1", HINT),
    (Decimal("-0.5"), "must not be negative"),
    (1.5, HINT),
    (float("nan"), HINT),
    (float("inf"), HINT),
    (True, HINT),
    (None, HINT),
    ([1], HINT),
    ("abc", HINT),
    ("1e5", HINT),
    ("1,5", HINT),
    (Decimal("NaN"), "finite"),
    (Decimal("-Infinity"), "finite"),
    ("0.0000000000000000001", "more than 18 decimals"),
    (2**256, "uint256"),
    ("1" * 80, "uint256"),
    (0, "greater than 0"),
    (Decimal("0E+999999999"), "greater than 0"),
]


@pytest.mark.parametrize(
    ("call", "amount", "advice"),
    [
        (call, amount, advice)
        for call in sorted(AMOUNT_CALLS)
        for amount, advice in BAD_AMOUNTS
        if not (call == "acknowledge" and amount is None)  # acknowledge(p, amount=None) moves no funds
    ],
)
def test_bad_amount(offline: Client, call: str, amount: Any, advice: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: AMOUNT_CALLS[call](zg, amount))
    refused(error, "amount", advice)


def test_a_new_ledger_needs_three_0g(offline: Client) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.ledger.create("2.5"))
    refused(error, "at least 3 0G", "pass amount >= 3")


# --------------------------------------------------------------------------- client options


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("network", ["foo", "Testnet", "", 5, ["testnet"], {"name": "testnet"}])
def test_unknown_network(kind: str, network: Any) -> None:
    with pytest.raises(ConfigurationError) as error:
        Client(kind, network=network)
    refused(error, "unknown network", "testnet, mainnet, testnet-dev, devnet", "Network(")


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    ("option", "value", "phrases"),
    [
        ("verification", "strict", ("verification must be one of", "enforce")),
        ("verification", None, ("verification must be one of",)),
        ("verification", ["warn"], ("verification must be one of",)),
        ("funding", "yes", ("funding must be a FundingPolicy",)),
        ("funding", {"min_balance": 2}, ("funding must be a FundingPolicy",)),
        ("rate_limit", "30/min", ("rate_limit must be a RateLimit",)),
        ("rate_limit", 30, ("rate_limit must be a RateLimit",)),
        ("timeout", "5", ("timeout must be a positive number of seconds",)),
        ("timeout", 0, ("timeout must be a positive number of seconds",)),
        ("timeout", -1.0, ("timeout must be a positive number of seconds",)),
        ("timeout", float("nan"), ("timeout must be a positive number of seconds",)),
        ("timeout", True, ("timeout must be a positive number of seconds",)),
        ("rpc_url", 8545, ("rpc_url must be a URL string",)),
    ],
)
def test_bad_client_option(kind: str, option: str, value: Any, phrases: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError) as error:
        Client(kind, **{option: value})
    refused(error, *phrases)


@pytest.mark.parametrize(
    ("values", "phrases"),
    [
        ({"min_balance": -1}, ("min_balance",)),
        ({"min_balance": 1.5}, ("min_balance", HINT)),
        ({"min_balance": "abc"}, ("min_balance", HINT)),
        ({"min_balance": "0.5"}, ("min_balance must be at least 1 0G",)),
        ({"min_balance": "3", "target_balance": "3"}, ("target_balance must be greater than min_balance",)),
        ({"max_per_transfer": "0.5"}, ("max_per_transfer must be at least 1 0G",)),
        ({"budget": -5}, ("budget",)),
        ({"budget": 1.5}, ("budget", HINT)),
        ({"interval": 0}, ("interval must be > 0",)),
        ({"interval": float("nan")}, ("interval must be > 0",)),
        ({"interval": float("inf")}, ("interval must be > 0",)),
        ({"interval": "often"}, ("interval",)),
        ({"mode": "eager"}, ("mode", "inline", "background")),
        ({"before_fund": 5}, ("before_fund", "callable")),
    ],
)
@pytest.mark.parametrize("build", [FundingPolicy, FundingPolicy.of], ids=["FundingPolicy", "FundingPolicy.of"])
def test_bad_funding_policy(
    build: Callable[..., FundingPolicy], values: dict[str, Any], phrases: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigurationError) as error:
        build(**values)
    refused(error, *phrases)


@pytest.mark.parametrize(
    ("options", "phrases"),
    [
        ({"model": "m", "strategy": "fastest"}, ("strategy must be one of", "round_robin")),
        ({}, ("a pool needs providers=[...] or a model=...",)),
        ({"providers": []}, ("a pool needs providers=[...] or a model=...",)),
        ({"model": "m", "cooldown": 0}, ("cooldown", "positive seconds")),
        ({"model": "m", "cooldown": "5"}, ("cooldown", "positive seconds")),
        ({"model": "m", "cooldown": float("nan")}, ("cooldown", "positive seconds")),
        ({"model": "m", "deadline": 0}, ("deadline", "positive seconds")),
        ({"model": "m", "deadline": "10"}, ("deadline", "positive seconds")),
        ({"model": "m", "attempt_timeout": -1}, ("attempt_timeout", "positive seconds")),
    ],
)
def test_bad_pool_options(offline: Client, options: dict[str, Any], phrases: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.pool(**options))
    refused(error, *phrases)


def test_bad_rate_limit_values() -> None:
    with pytest.raises(ConfigurationError) as error:
        RateLimit(burst=0)
    refused(error, "burst >= 1")


# --------------------------------------------------------------------------- request arguments


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("messages", "phrases"),
    [
        ([], ("at least one message",)),
        (None, ("messages must be a list of dicts", "'role': 'user'")),
        ("hello", ("messages must be a list of dicts",)),
        ({"role": "user", "content": "hi"}, ("messages must be a list of dicts",)),
        (["hi"], ("messages must be a list of dicts",)),
        ([1], ("messages must be a list of dicts",)),
        (5, ("messages must be a list of dicts",)),
        ([{"content": "hi"}], ("every message needs a 'role'",)),
    ],
)
def test_bad_messages(offline: Client, messages: Any, phrases: tuple[str, ...], stream: bool) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.chat.completions.create(provider=GOOD, messages=messages, stream=stream))
    refused(error, *phrases)


@pytest.mark.parametrize("param", ["prompt", "input", "file"])
def test_reserved_parameter_in_extra_params(offline: Client, param: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.chat.completions.create(provider=GOOD, messages=MESSAGES, **{param: "x"}))
    refused(error, f"pass {param!r} as its own argument")


@pytest.mark.parametrize("n", [0, 11, -1, 1.5, True, "2", None])
def test_image_count_out_of_range(offline: Client, n: Any) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.images.generate(provider=GOOD, prompt="a cat", n=n))
    refused(error, "n must be an integer from 1 to 10", repr(n))


@pytest.mark.parametrize("prompt", ["", "   ", None, 5])
def test_image_prompt_must_be_text(offline: Client, prompt: Any) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.images.generate(provider=GOOD, prompt=prompt))
    refused(error, "prompt must be a non-empty string")


@pytest.mark.parametrize("value", ["", []])
def test_empty_embedding_input(offline: Client, value: Any) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.embeddings.create(provider=GOOD, input=value))
    refused(error, "input must")


@pytest.mark.parametrize(
    ("make", "phrases"),
    [
        (lambda tmp: tmp / "missing.wav", ("does not exist", "missing.wav")),
        (lambda tmp: str(tmp / "missing.wav"), ("does not exist", "missing.wav")),
        (lambda tmp: tmp, ("does not exist",)),  # a directory
        (lambda tmp: b"", ("the audio file is empty",)),
        (lambda tmp: None, ("pass file= as a path",)),
        (lambda tmp: 123, ("pass file= as a path",)),
        (lambda tmp: ("a.wav",), ("(filename, bytes)",)),
        (lambda tmp: ("a.wav", "not bytes"), ("(filename, bytes)",)),
    ],
)
def test_bad_audio_file(offline: Client, tmp_path: Path, make: Callable[[Path], Any], phrases: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.audio.transcriptions.create(provider=GOOD, file=make(tmp_path)))
    refused(error, *phrases)


def test_audio_file_opened_in_text_mode(offline: Client, tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    path.write_text("RIFF")
    with path.open() as text_file, pytest.raises(ConfigurationError) as error:
        offline.run(lambda zg: zg.audio.transcriptions.create(provider=GOOD, file=text_file))
    refused(error, "binary mode ('rb')")


# --------------------------------------------------------------------------- on the devnet


def devnet_network(net: Devnet) -> Network:
    return Network(
        name="devnet",
        chain_id=net.chain_id,
        rpc_url=net.rpc_url,
        ledger=net.contracts.ledger,
        inference=net.contracts.inference,
    )


@pytest.fixture
def zg(devnet: Devnet) -> Iterator[ZeroG]:
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet)) as client:
        yield client


@pytest.fixture
async def azg(devnet: Devnet) -> AsyncIterator[AsyncZeroG]:
    async with AsyncZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet)) as client:
        yield client


NOBODY = "0x" + "12" * 20  # well formed, registered by nobody
UNKNOWN_PROVIDER_CALLS = ["services.get", "chat", "images", "ledger.transfer", "acknowledge", "verify"]


@pytest.mark.devnet
@pytest.mark.parametrize("call", UNKNOWN_PROVIDER_CALLS)
def test_unknown_provider(zg: ZeroG, call: str) -> None:
    with pytest.raises(ServiceNotFoundError) as error:
        _first(PROVIDER_CALLS[call](zg, NOBODY))
    refused(error, NOBODY, "has no service", "zg.services.list()")


@pytest.mark.devnet
@pytest.mark.anyio
@pytest.mark.parametrize("call", UNKNOWN_PROVIDER_CALLS)
async def test_unknown_provider_async(azg: AsyncZeroG, call: str) -> None:
    with pytest.raises(ServiceNotFoundError) as error:
        await PROVIDER_CALLS[call](azg, NOBODY)
    refused(error, NOBODY, "has no service", "zg.services.list()")


@pytest.mark.devnet
@pytest.mark.parametrize("stream", [False, True])
def test_model_not_served(zg: ZeroG, devnet: Devnet, stream: bool) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    provider = devnet.provider("chat-a").info.address
    with pytest.raises(RequestRejectedError) as error:
        _first(zg.chat.completions.create(provider=provider, model="not-served", messages=MESSAGES, stream=stream))
    refused(error, "model not supported", "not-served", "use the model this provider serves")
    assert error.value.status_code == 400 and error.value.provider == provider


@pytest.mark.devnet
@pytest.mark.anyio
async def test_model_not_served_async(azg: AsyncZeroG, devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    provider = devnet.provider("chat-a").info.address
    with pytest.raises(RequestRejectedError) as error:
        await azg.chat.completions.create(provider=provider, model="not-served", messages=MESSAGES)
    refused(error, "model not supported", "use the model this provider serves")
    chunks = await azg.chat.completions.create(provider=provider, model="not-served", messages=MESSAGES, stream=True)
    with pytest.raises(RequestRejectedError):
        await anext(chunks)


@pytest.mark.devnet
def test_model_served_by_nobody_in_a_pool(zg: ZeroG) -> None:
    with pytest.raises(ServiceNotFoundError) as error:
        zg.pool(model="no-such-model").chat.completions.create(messages=MESSAGES)
    refused(error, "no-such-model", "zg.services.list()")


@pytest.mark.devnet
def test_wrong_service_type(zg: ZeroG, devnet: Devnet) -> None:
    with pytest.raises(ConfigurationError) as error:
        zg.images.generate(provider=devnet.provider("chat-a").info.address, prompt="a cat")
    refused(error, "serves 'chatbot', not 'text-to-image'", "zg.services.list(service_type='text-to-image')")


@pytest.mark.devnet
def test_transfer_beyond_the_ledger(zg: ZeroG, devnet: Devnet) -> None:
    zg.ledger.create("5")
    with pytest.raises(InsufficientBalanceError) as error:
        zg.ledger.transfer(devnet.provider("chat-a").info.address, "1000")
    refused(error, "5 0G available", "deposit at least 995 0G", "zg.ledger.deposit(amount)")


# --------------------------------------------------------------------------- the LangChain and LlamaIndex adapters


@pytest.fixture
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZG_PRIVATE_KEY", "ZG_ROUTER_API_KEY", "ZG_NETWORK", "ZG_RPC_URL"):
        monkeypatch.delenv(name, raising=False)


def langchain_chat(**config: Any) -> Any:
    from langchain_zerog import ChatZeroG

    return ChatZeroG(**{"network": OFFLINE, **config})


def llamaindex_llm(**config: Any) -> Any:
    from llama_index.llms.zerog import ZeroG as LlamaZeroG

    return LlamaZeroG(**{"network": OFFLINE, **config})


ADAPTER_CALLS: dict[str, tuple[Callable[..., Any], Callable[[Any], Any]]] = {
    "langchain invoke": (langchain_chat, lambda llm: llm.invoke("hi")),
    "langchain ainvoke": (langchain_chat, lambda llm: asyncio.run(llm.ainvoke("hi"))),
    "llamaindex complete": (llamaindex_llm, lambda llm: llm.complete("hi")),
    "llamaindex acomplete": (llamaindex_llm, lambda llm: asyncio.run(llm.acomplete("hi"))),
}


@pytest.mark.usefixtures("no_env_keys")
@pytest.mark.parametrize("adapter", sorted(ADAPTER_CALLS))
def test_adapter_with_a_bad_provider_address(adapter: str) -> None:
    build, use = ADAPTER_CALLS[adapter]
    llm = build(provider="0x12", private_key=KEY)
    with pytest.raises(ConfigurationError) as error:
        use(llm)
    refused(error, "provider", "0x-prefixed 20-byte address", "'0x12'")


@pytest.mark.usefixtures("no_env_keys")
@pytest.mark.parametrize("adapter", sorted(ADAPTER_CALLS))
def test_adapter_without_a_key_says_how_to_give_one(adapter: str) -> None:
    build, use = ADAPTER_CALLS[adapter]
    llm = build(provider=GOOD)  # construction does no I/O and needs no key yet
    with pytest.raises(ConfigurationError) as error:
        use(llm)
    refused(error, "no private key", "private_key=", "ZG_PRIVATE_KEY")


@pytest.mark.usefixtures("no_env_keys")
@pytest.mark.parametrize("adapter", sorted(ADAPTER_CALLS))
def test_adapter_with_a_bad_key_never_shows_it(adapter: str) -> None:
    build, use = ADAPTER_CALLS[adapter]
    bad = "0x" + "ab" * 31 + "zz"
    llm = build(provider=GOOD, private_key=bad)
    assert bad not in repr(llm) and bad not in str(llm)
    with pytest.raises(ConfigurationError) as error:
        use(llm)
    refused(error, "private key", "64 hex digits", secret=bad)


@pytest.mark.usefixtures("no_env_keys")
@pytest.mark.parametrize("adapter", sorted(ADAPTER_CALLS))
def test_adapter_with_an_unknown_network(adapter: str) -> None:
    build, use = ADAPTER_CALLS[adapter]
    llm = build(provider=GOOD, private_key=KEY, network="moonnet")
    with pytest.raises(ConfigurationError) as error:
        use(llm)
    refused(error, "unknown network 'moonnet'", "testnet, mainnet, testnet-dev, devnet")


@pytest.mark.usefixtures("no_env_keys")
@pytest.mark.parametrize("build", [langchain_chat, llamaindex_llm], ids=["langchain", "llamaindex"])
@pytest.mark.parametrize(
    ("config", "phrases"),
    [
        ({}, ("pass", "model=", "provider=")),
        ({"provider": GOOD, "providers": [GOOD]}, ("provider=", "providers=[", "not both")),
    ],
)
def test_adapter_construction_without_a_target(
    build: Callable[..., Any], config: dict[str, Any], phrases: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError) as error:  # pydantic's ValidationError, a ValueError, with our message
        build(**config)
    refused(error, *phrases)


@pytest.mark.usefixtures("no_env_keys")
def test_adapter_embeddings_with_a_bad_provider_address() -> None:
    from llama_index.embeddings.zerog import ZeroGEmbedding

    from langchain_zerog import ZeroGEmbeddings

    with pytest.raises(ConfigurationError) as error:
        ZeroGEmbeddings(provider="0x12", private_key=KEY, network=OFFLINE).embed_query("hi")
    refused(error, "provider", "0x-prefixed 20-byte address")
    with pytest.raises(ConfigurationError) as error:
        ZeroGEmbedding(provider="0x12", private_key=KEY, network=OFFLINE).get_query_embedding("hi")
    refused(error, "provider", "0x-prefixed 20-byte address")


def test_typed_errors_are_zerog_errors() -> None:
    """What the tests above expect is catchable as one family (and bad input also as ValueError)."""
    assert issubclass(ConfigurationError, ZeroGError) and issubclass(ConfigurationError, ValueError)
    for error in (ServiceNotFoundError, RequestRejectedError, InsufficientBalanceError):
        assert issubclass(error, ZeroGError)
