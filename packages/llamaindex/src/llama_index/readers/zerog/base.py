"""``ZeroGTranscriptionReader``: audio files → ``Document``\\ s, transcribed on 0G speech-to-text providers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.bridge.pydantic import SecretStr
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document
from llama_index.llms.zerog._client import cached_pool
from llama_index.llms.zerog._options import with_retries

from zerog_compute import AsyncZeroG, LazyClients, Network, RateLimit, Transcription, VerificationPolicy
from zerog_compute import ZeroG as ZeroGClient

PathLike = str | Path
RECORD_KEYS = ["provider", "chat_id", "model", "fee", "fee_0g", "verdict"]


def _paths(file: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(file, (str, Path)):
        return [Path(file)]
    return [Path(f) for f in file]


class ZeroGTranscriptionReader(BaseReader):
    """Transcribe audio files on 0G and return one ``Document`` per file, for RAG over recordings.

    Each document's text is the transcript; its metadata holds ``file_name``, ``file_path``,
    ``provider``, ``chat_id``, ``model``, ``fee`` (neuron), ``fee_0g``, ``verdict`` and, when the
    provider reports them, ``language`` and ``duration``. The 0G fields are kept out of the text that is
    embedded and shown to LLMs. Works as a ``SimpleDirectoryReader`` file extractor
    (``file_extractor={".wav": reader}``).

    Args:
        provider: speech-to-text provider, or None for failover over ``providers``.
        providers: several providers in failover order.
        model: model id (None: the provider's registered model).
        await_verification: wait for the TEE signature check so ``verdict`` is final (default True).
        private_key, router_api_key, router_url, network, verification, timeout, rate_limit, max_retries, state,
            deadline, max_response_bytes, client, async_client: as for ``ZeroG`` (``state`` names where the wallet's
            shared state lives: ``"sqlite"``, ``"redis://..."``; default ``$ZG_STATE_URL``, else this process).
    """

    def __init__(
        self,
        provider: str | None = None,
        *,
        providers: Sequence[str] | None = None,
        model: str | None = None,
        language: str | None = None,
        await_verification: bool = True,
        private_key: str | bytes | SecretStr | None = None,
        router_api_key: str | SecretStr | None = None,
        router_url: str | None = None,
        network: str | Network | None = None,
        rpc_url: str | None = None,
        verification: VerificationPolicy = "warn",
        timeout: float = 120.0,
        rate_limit: RateLimit | None = RateLimit(),
        max_retries: int | None = None,
        state: str | None = None,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
        client: ZeroGClient | None = None,
        async_client: AsyncZeroG | None = None,
    ) -> None:
        if not provider and not providers:
            raise ValueError("ZeroGTranscriptionReader: pass provider='0x...' or providers=['0x...', ...]")
        self._holder = LazyClients(
            private_key=private_key,
            router_api_key=router_api_key,
            router_url=router_url,
            network=network,
            rpc_url=rpc_url,
            verification=verification,
            rate_limit=with_retries(rate_limit, max_retries),
            timeout=timeout,
            state=state,
            deadline=deadline,
            max_response_bytes=max_response_bytes,
            client=client,
            async_client=async_client,
        )
        self.provider = provider
        self.providers = list(providers or [])
        self.model = model
        self.language = language
        self.await_verification = await_verification
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ZeroGTranscriptionReader(provider={self.provider!r}, providers={self.providers!r})"

    def _target(self, client: ZeroGClient | AsyncZeroG) -> tuple[Any, dict[str, Any]]:
        if self.provider:
            return client.audio.transcriptions, {"provider": self.provider}
        pool = cached_pool(self._holder, client, {"providers": self.providers, "service_type": "speech-to-text"})
        return pool.audio.transcriptions, {}

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model}
        if self.language:
            params["language"] = self.language
        return params

    def _document(self, path: Path, result: Transcription, verdict: str, extra: dict[str, Any] | None) -> Document:
        record = result.zerog
        metadata: dict[str, Any] = {"file_name": path.name, "file_path": str(path), **(extra or {})}
        if record is not None:
            metadata.update(
                provider=record.provider,
                chat_id=record.chat_id,
                model=record.model,
                fee=record.fee,
                fee_0g=str(record.fee_0g),
                verdict=verdict,
            )
        for key in ("language", "duration"):
            if getattr(result, key, None) is not None:
                metadata[key] = getattr(result, key)
        return Document(
            text=result.text,
            metadata=metadata,
            excluded_embed_metadata_keys=RECORD_KEYS,
            excluded_llm_metadata_keys=RECORD_KEYS,
        )

    def _verdict(self, result: Transcription) -> str:
        record = result.zerog
        if record is None:
            return "none"
        if record.verification is None and (record.verification_future is None or not self.await_verification):
            return "pending" if record.verification_future is not None else "none"
        verified = record.verdict(timeout=self.timeout)
        return "none" if verified is None else str(verified.verdict.value)

    async def _averdict(self, result: Transcription) -> str:
        record = result.zerog
        if record is None:
            return "none"
        if record.verification is None and (record.verification_future is None or not self.await_verification):
            return "pending" if record.verification_future is not None else "none"
        verified = await record.averdict()
        return "none" if verified is None else str(verified.verdict.value)

    def lazy_load_data(
        self, file: PathLike | Sequence[PathLike], extra_info: dict[str, Any] | None = None, **_: Any
    ) -> Iterator[Document]:
        """Transcribe ``file`` (a path or several) one by one, yielding a ``Document`` each."""
        transcriptions, where = self._target(self._holder.sync())
        for path in _paths(file):
            result = transcriptions.create(**where, file=(path.name, path.read_bytes()), **self._params())
            yield self._document(path, result, self._verdict(result), extra_info)

    def load_data(
        self, file: PathLike | Sequence[PathLike], extra_info: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Transcribe ``file`` (a path or several): one ``Document`` per audio file."""
        return list(self.lazy_load_data(file, extra_info, **kwargs))

    async def alazy_load_data(  # type: ignore[override]
        self, file: PathLike | Sequence[PathLike], extra_info: dict[str, Any] | None = None, **_: Any
    ) -> AsyncIterator[Document]:
        """Async :meth:`lazy_load_data` (``AsyncZeroG``; files read off the event loop)."""
        transcriptions, where = self._target(self._holder.aio())
        for path in _paths(file):
            data = await asyncio.to_thread(path.read_bytes)
            result = await transcriptions.create(**where, file=(path.name, data), **self._params())
            yield self._document(path, result, await self._averdict(result), extra_info)

    async def aload_data(
        self, file: PathLike | Sequence[PathLike], extra_info: dict[str, Any] | None = None, **_: Any
    ) -> list[Document]:
        """Async :meth:`load_data`: the files are transcribed concurrently."""
        paths = _paths(file)
        docs = await asyncio.gather(*(self._aload_one(p, extra_info) for p in paths))
        return list(docs)

    async def _aload_one(self, path: Path, extra_info: dict[str, Any] | None) -> Document:
        transcriptions, where = self._target(self._holder.aio())
        data = await asyncio.to_thread(path.read_bytes)
        result = await transcriptions.create(**where, file=(path.name, data), **self._params())
        return self._document(path, result, await self._averdict(result), extra_info)

    def close(self) -> None:
        self._holder.close()

    async def aclose(self) -> None:
        await self._holder.aclose()
