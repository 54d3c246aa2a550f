"""``ZeroGToolSpec`` (image, speech, balance, discovery, capped funding) and ``ZeroGTranscriptionReader``."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from llama_index.core import SimpleDirectoryReader
from llama_index.core.schema import MetadataMode
from llama_index.core.tools import FunctionTool

from zerog_devnet import Devnet

from .conftest import Kit, wav

pytestmark = pytest.mark.devnet
G = 10**18


@pytest.fixture
def recordings(tmp_path: Path) -> list[Path]:
    paths = []
    for name, seconds in (("standup.wav", 2.0), ("retro.wav", 3.0)):
        path = tmp_path / name
        path.write_bytes(wav(seconds))
        paths.append(path)
    return paths


def test_tool_list_is_read_only_by_default(kit: Kit) -> None:
    tools = kit.tools().to_tool_list()
    assert [t.metadata.name for t in tools] == ["generate_image", "transcribe_audio", "get_balance", "list_providers"]
    assert all(isinstance(t, FunctionTool) and t.async_fn is not None for t in tools)
    schema = tools[0].metadata.get_parameters_dict()
    assert schema["required"] == ["prompt"] and set(schema["properties"]) == {"prompt", "size", "n"}
    funded = kit.tools(allow_funding=True).to_tool_list()
    assert funded[-1].metadata.name == "fund_provider"


def test_generate_image_and_transcribe(kit: Kit, tmp_path: Path, recordings: list[Path]) -> None:
    spec = kit.tools(output_dir=tmp_path / "images")
    text = spec.generate_image("a red fox", size="32x32", n=2)
    assert text.startswith("Generated 2 image(s)") and kit.address("image") in text
    saved = sorted((tmp_path / "images").glob("*.png"))
    assert len(saved) == 2 and saved[0].read_bytes()[:4] == b"\x89PNG"
    transcript = spec.transcribe_audio(str(recordings[0]))
    assert "scripted transcript of standup.wav (2.0 s)" in transcript and kit.address("speech") in transcript
    pinned = kit.tools(image_provider=kit.address("image"), output_dir=tmp_path / "pinned")
    assert "Generated 1 image(s)" in pinned.generate_image("a blue whale", size="16x16")


def test_balance_and_providers(kit: Kit) -> None:
    spec = kit.tools()
    balance = spec.get_balance()
    assert "ledger total 20 0G" in balance and kit.address("chat-a") in balance
    listed = spec.list_providers("embedding")
    assert kit.address("embed") in listed and kit.address("chat-a") not in listed
    assert kit.address("chat-a") in spec.list_providers()
    poor = kit.tools(private_key=kit.net.users[1].private_key)
    assert "no 0G ledger yet" in poor.get_balance()


def test_funding_is_capped(kit: Kit, net: Devnet) -> None:
    spec = kit.tools(allow_funding=True, max_fund_per_call="1", funding_budget="1.5")
    chat_a = kit.address("chat-a")
    assert "Moved 1 0G" in spec.fund_provider(chat_a, "1")
    with pytest.raises(ValueError, match="per-call cap"):
        spec.fund_provider(chat_a, "2")
    with pytest.raises(ValueError, match="0.5 0G of the funding budget"):
        spec.fund_provider(chat_a, "0.6")
    with pytest.raises(ValueError, match="number of 0G"):
        spec.fund_provider(chat_a, "lots")
    assert spec.funded == G
    tool = spec.to_tool_list()[-1]
    output = tool.call(provider=chat_a, amount="0.5")
    assert "Moved 0.5 0G" in output.content and spec.funded == 3 * G // 2


@pytest.mark.anyio
async def test_async_tools(akit: Kit, tmp_path: Path, recordings: list[Path]) -> None:
    spec = akit.tools(output_dir=tmp_path, allow_funding=True)
    assert "Generated 1 image(s)" in await spec.agenerate_image("a cat", size="16x16")
    assert "retro.wav" in await spec.atranscribe_audio(str(recordings[1]))
    assert "ledger total 20 0G" in await spec.aget_balance()
    assert akit.address("speech") in await spec.alist_providers("speech-to-text")
    assert "Moved 1 0G" in await spec.afund_provider(akit.address("chat-b"), "1")
    tools = {t.metadata.name: t for t in spec.to_tool_list()}
    assert "image(s)" in (await tools["generate_image"].acall(prompt="a dog", size="16x16")).content


def test_reader_documents(kit: Kit, recordings: list[Path]) -> None:
    docs = kit.reader().load_data(recordings, extra_info={"meeting": "weekly"})
    assert [d.metadata["file_name"] for d in docs] == ["standup.wav", "retro.wav"]
    first = docs[0]
    assert first.text.startswith("scripted transcript of standup.wav (2.0 s):")
    assert first.metadata["provider"] == kit.address("speech") and first.metadata["chat_id"]
    assert first.metadata["fee"] == 2 * kit.net.provider("speech").info.input_price
    assert first.metadata["verdict"] == "verified" and first.metadata["meeting"] == "weekly"
    embedded = first.get_content(metadata_mode=MetadataMode.EMBED)
    assert "chat_id" not in embedded and "file_name" in embedded


def test_reader_as_file_extractor(kit: Kit, recordings: list[Path]) -> None:
    directory = SimpleDirectoryReader(str(recordings[0].parent), file_extractor={".wav": kit.reader()})
    docs = directory.load_data()
    assert sorted(d.metadata["file_name"] for d in docs) == ["retro.wav", "standup.wav"]
    assert all(d.metadata["verdict"] == "verified" for d in docs)


def test_reader_failover(kit: Kit, recordings: list[Path]) -> None:
    kit.net.provider("speech").faults.set(http_status=502)
    reader = kit.reader(provider=None, providers=[kit.address("speech")])
    with pytest.raises(Exception, match="all providers failed"):
        reader.load_data(recordings[0])


def test_reader_pickles_without_its_key_or_clients(
    kit: Kit, recordings: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = kit.reader()
    assert reader.load_data(recordings[0])[0].metadata["verdict"] == "verified"  # a built client, then pickled
    blob = pickle.dumps(reader)
    assert kit.key.removeprefix("0x").encode() not in blob and bytes.fromhex(kit.key.removeprefix("0x")) not in blob
    restored = pickle.loads(blob)
    assert kit.net.rpc_url.encode() not in blob  # RPC URLs often embed an API key: not pickled either
    assert restored._holder._sync is None and restored._holder.client_kwargs()["network"] == kit.network.with_rpc("")
    monkeypatch.setenv("ZG_PRIVATE_KEY", kit.key)  # the key and the RPC URL come back from the environment
    monkeypatch.setenv("ZG_RPC_URL", kit.net.rpc_url)
    docs = restored.load_data(recordings[1])
    assert docs[0].metadata["provider"] == kit.address("speech") and docs[0].metadata["verdict"] == "verified"
    restored.close()


@pytest.mark.anyio
async def test_reader_async(akit: Kit, recordings: list[Path]) -> None:
    reader = akit.reader()
    docs = await reader.aload_data(recordings)
    assert [d.metadata["file_name"] for d in docs] == ["standup.wav", "retro.wav"]
    lazy = [d async for d in reader.alazy_load_data(recordings[1])]
    assert lazy[0].text == docs[1].text and lazy[0].metadata["verdict"] == "verified"


def test_reader_and_tool_spec_pass_state_and_bounds_to_their_client(
    kit: Kit, recordings: list[Path], tmp_path: Path
) -> None:
    """``state=``, ``deadline=`` and ``max_response_bytes=`` reach the clients they build, as for the LLM classes."""
    url = f"sqlite://{tmp_path / 'components.db'}"
    bounds = {"state": url, "deadline": 42.0, "max_response_bytes": 1 << 20}
    reader = kit.reader(**bounds)
    assert reader.load_data(recordings[0])[0].metadata["verdict"] == "verified"
    client = reader._holder.sync()
    assert client._wallet_state.store.url == url
    assert (client._ctx.deadline, client._ctx.max_response_bytes) == (42.0, 1 << 20)
    tools = kit.tools(**bounds)
    assert tools.get_balance().startswith(f"Wallet {kit.net.users[0].address}")
    built = tools._holder.sync()
    assert built._wallet_state is client._wallet_state  # one wallet, one state in the store both name
    assert {name: tools._holder.client_kwargs()[name] for name in bounds} == bounds
    assert not {"state", "deadline", "max_response_bytes"} & set(kit.tools()._holder.client_kwargs())
