"""Constructor arguments never vanish, and RPC URLs never leave the process, whichever way they were given.

OpenAI-style knobs (``max_retries``, ``timeout``, ``additional_kwargs``, request-body parameters) are honoured;
the ones with no 0G meaning (``api_key``, ``api_base``, ``default_headers``, ...) and typos raise
``ConfigurationError``. An RPC URL (``rpc_url=`` or inside ``network=Network(...)``) is in no ``repr``,
``to_dict()``, ``to_json()`` or pickle of any component; a restored component needs it again.
"""

from __future__ import annotations

import builtins
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.embeddings.zerog import ZeroGEmbedding
from llama_index.llms.zerog import ZeroG
from llama_index.multi_modal_llms.zerog import ZeroGMultiModal
from llama_index.readers.zerog import ZeroGTranscriptionReader
from llama_index.tools.zerog import ZeroGToolSpec

import zerog_compute
from zerog_compute import ConfigurationError, Network, RateLimit, RateLimitedError

from .conftest import Kit

PROVIDER = "0x" + "3" * 40
KEY = "0x" + "11" * 32
SECRET = "s3cr3t-rpc-key"
RPC = f"https://user:{SECRET}@rpc.example/v2/{SECRET}"
NETWORK = Network(name="custom", chain_id=4242, rpc_url=RPC, ledger="0x" + "1" * 40, inference="0x" + "2" * 40)
MODELS = [ZeroG, ZeroGEmbedding, ZeroGMultiModal]


@pytest.fixture(autouse=True)
def _no_ambient_rpc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZG_RPC_URL", raising=False)


@pytest.mark.parametrize("cls", MODELS)
def test_max_retries_sets_the_retry_budget(cls: type[Any]) -> None:
    component = cls(provider=PROVIDER, private_key=KEY, max_retries=5, timeout=7)
    rate_limit = component._holder.client_kwargs()["rate_limit"]
    assert rate_limit == RateLimit(max_retries=5) and component._holder.client_kwargs()["timeout"] == 7
    assert cls(provider=PROVIDER, max_retries=0, rate_limit=None)._holder.client_kwargs()["rate_limit"] is None
    with pytest.raises(ConfigurationError, match="max_retries needs the client-side rate limiter"):
        cls(provider=PROVIDER, max_retries=2, rate_limit=None)


def test_the_tool_spec_and_the_reader_take_max_retries_too() -> None:
    for component in (ZeroGToolSpec(max_retries=4), ZeroGTranscriptionReader(PROVIDER, max_retries=4)):
        assert component._holder.client_kwargs()["rate_limit"] == RateLimit(max_retries=4)


def test_request_body_parameters_are_sent() -> None:
    llm = ZeroG(provider=PROVIDER, seed=7, top_p=0.5, additional_kwargs={"stop": ["\n"]})
    assert llm.additional_kwargs == {"seed": 7, "top_p": 0.5, "stop": ["\n"]}
    request = llm._request([ChatMessage(role="user", content="hi")], {})
    assert (request["seed"], request["top_p"], request["stop"]) == (7, 0.5, ["\n"])
    embed = ZeroGEmbedding(provider=PROVIDER, encoding_format="base64")
    assert embed._request(["a"])["encoding_format"] == "base64"


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize(
    ("argument", "says"),
    [
        ({"api_key": "sk-1"}, "router_api_key="),
        ({"api_base": "https://router-api.0g.ai/v1"}, "router_url="),
        ({"default_headers": {"X-A": "1"}}, "routing headers"),
        ({"http_client": object()}, "client=zerog_compute.ZeroG"),
        ({"reuse_client": False}, "always reuse"),
        ({"temprature": 0.1}, "did you mean temperature"),
        ({"max_retry": 3}, "did you mean max_retries"),
    ],
)
def test_knobs_without_a_0g_meaning_are_refused(cls: type[Any], argument: dict[str, Any], says: str) -> None:
    if cls is ZeroGEmbedding and "temprature" in argument:
        argument, says = {"dimension": 8}, "did you mean dimensions"
    with pytest.raises(ConfigurationError, match=f"{cls.__name__} cannot take .*{says}"):
        cls(provider=PROVIDER, **argument)


def serialised(component: Any) -> list[str]:
    forms = [repr(component), str(component)]
    if not isinstance(component, ZeroGToolSpec):  # the tool spec holds a lock: it cannot be pickled at all
        forms.append(pickle.dumps(component).decode("latin1"))
    if hasattr(component, "to_dict"):
        forms += [str(component.to_dict()), component.to_json()]
    return forms


@pytest.mark.parametrize("given", ["network", "rpc_url", "network dict"])
def test_no_rpc_url_in_any_serialised_form(given: str) -> None:
    if given == "network":
        where: dict[str, Any] = {"network": NETWORK}
    elif given == "rpc_url":
        where = {"network": NETWORK.with_rpc("https://public.example"), "rpc_url": RPC}
    else:
        where = {"network": NETWORK.model_dump()}  # a serialised form of another version, with its URL
    components: list[Any] = [cls(provider=PROVIDER, private_key=KEY, **where) for cls in MODELS]
    plain = {"network": NETWORK} if given == "network dict" else where  # these two take no dicts
    components += [
        ZeroGToolSpec(private_key=KEY, **plain),
        ZeroGTranscriptionReader(PROVIDER, private_key=KEY, **plain),
    ]
    for component in components:
        assert component._holder.client_kwargs()["rpc_url"] in (RPC, None)
        for text in serialised(component):
            assert SECRET not in text and "rpc.example" not in text


@pytest.mark.parametrize("cls", MODELS)
def test_a_restored_component_takes_the_rpc_url_again(cls: type[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    component = cls(provider=PROVIDER, private_key=KEY, network=NETWORK)
    assert component._holder.sync().network.rpc_url == RPC  # in the process it is used as given
    component.close()
    data = component.to_dict()
    with pytest.raises(ConfigurationError, match=r"no RPC URL .* pass rpc_url=\.\.\. or set \$ZG_RPC_URL"):
        cls.from_dict(data, private_key=KEY)._holder.sync()
    assert cls.from_dict(data, private_key=KEY, rpc_url=RPC)._holder.sync().network.rpc_url == RPC
    monkeypatch.setenv("ZG_RPC_URL", RPC)
    monkeypatch.setenv("ZG_PRIVATE_KEY", KEY)  # pickles carry no key either
    unpickled = pickle.loads(pickle.dumps(component))
    assert unpickled._holder.sync().network.rpc_url == RPC and unpickled.network == NETWORK.with_rpc("")
    testnet = cls(provider=PROVIDER, private_key=KEY, network=Network(**{**NETWORK.model_dump(), "chain_id": 16602}))
    monkeypatch.delenv("ZG_RPC_URL")
    assert pickle.loads(pickle.dumps(testnet))._holder.sync().network.rpc_url == "https://evmrpc-testnet.0g.ai"


@pytest.mark.devnet
def test_max_retries_zero_gives_up_on_the_first_429(kit: Kit) -> None:
    kit.net.provider("chat-a").faults.set(rate_limit_storm=True)
    llm = kit.llm(max_retries=0, rate_limit=RateLimit(rpm=0, max_concurrent=50))
    with pytest.raises(RateLimitedError):
        llm.chat([ChatMessage(role="user", content="What is 2 + 3?")])


def test_the_readme_error_table_names_real_errors_with_their_bases() -> None:
    """Every class in the README's "Which errors to catch" table exists, and the stated extra bases hold."""
    readme = Path(__file__).parents[2] / "packages" / "llamaindex" / "README.md"
    table = readme.read_text(encoding="utf-8").split("## Which errors to catch", 1)[1].split("```", 1)[0]
    raised = [row.split("|")[2] for row in table.splitlines() if row.startswith("| ") and "---" not in row][1:]
    found = {name for cell in raised for name in re.findall(r"`([A-Z][A-Za-z]+Error)`", cell)}
    names = {name for name in found if not hasattr(builtins, name)}  # ValueError: Python's own
    assert {"ProviderTimeoutError", "StreamTimeoutError", "RateLimitedError", "VerificationError"} <= names
    for name in names:
        assert issubclass(getattr(zerog_compute, name), zerog_compute.ZeroGError), name
    for name in ("ProviderTimeoutError", "StreamTimeoutError", "DeadlineExceededError"):
        assert issubclass(getattr(zerog_compute, name), TimeoutError), name
    assert issubclass(zerog_compute.ConfigurationError, ValueError)
