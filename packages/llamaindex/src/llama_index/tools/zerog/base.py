"""``ZeroGToolSpec``: 0G Compute as agent tools (image generation, transcription, balance, discovery).

Read-only and paid-inference tools are always available; the one tool that moves funds
(``fund_provider``) exists only with ``allow_funding=True`` and is capped per call and in total.
Every tool has a sync and an async implementation (the async one uses ``AsyncZeroG``).
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from llama_index.core.bridge.pydantic import SecretStr
from llama_index.core.tools.tool_spec.base import SPEC_FUNCTION_TYPE, BaseToolSpec
from llama_index.llms.zerog._client import cached_pool
from llama_index.llms.zerog._options import with_retries

from zerog_compute import (
    AsyncZeroG,
    ImagesResponse,
    LazyClients,
    LedgerInfo,
    LedgerNotFoundError,
    Network,
    RateLimit,
    Service,
    SubAccount,
    Transcription,
    VerificationPolicy,
    format_0g,
    to_neuron,
)
from zerog_compute import ZeroG as ZeroGClient

from .format import balance_text, image_text, services_text, transcription_text

READ_TOOLS: list[SPEC_FUNCTION_TYPE] = [
    ("generate_image", "agenerate_image"),
    ("transcribe_audio", "atranscribe_audio"),
    ("get_balance", "aget_balance"),
    ("list_providers", "alist_providers"),
]
FUND_TOOL: SPEC_FUNCTION_TYPE = ("fund_provider", "afund_provider")


class ZeroGToolSpec(BaseToolSpec):
    """Agent tools on the 0G Compute Network.

    Args:
        image_provider: text-to-image provider; None picks among all discovered ones (with failover).
        speech_provider: speech-to-text provider; None picks among all discovered ones (with failover).
        output_dir: where generated images are saved (default: a new temporary directory).
        allow_funding: add the ``fund_provider`` tool (moves 0G from the ledger to a sub-account).
        max_fund_per_call: cap of one ``fund_provider`` call, in 0G.
        funding_budget: cap of all ``fund_provider`` calls of this tool spec together, in 0G.
        private_key: wallet key (default ``$ZG_PRIVATE_KEY``); router_api_key, router_url, network, verification,
            timeout, rate_limit, max_retries, state, deadline, max_response_bytes, client and async_client as
            for ``ZeroG`` (``state``: where the wallet's shared state lives). In Router mode
            the balance and funding tools are unavailable (they need the wallet's ledger).
        trust_mode: Router mode: ``"private"`` (only TeeML providers).
        image_jobs: Router mode: generate images through the Router's async jobs (submit, poll, verify).
    """

    def __init__(
        self,
        *,
        image_provider: str | None = None,
        speech_provider: str | None = None,
        output_dir: str | Path | None = None,
        allow_funding: bool = False,
        max_fund_per_call: str | Decimal = "1",
        funding_budget: str | Decimal = "5",
        private_key: str | bytes | SecretStr | None = None,
        router_api_key: str | SecretStr | None = None,
        router_url: str | None = None,
        network: str | Network | None = None,
        rpc_url: str | None = None,
        verification: VerificationPolicy = "warn",
        timeout: float = 60.0,
        rate_limit: RateLimit | None = RateLimit(),
        max_retries: int | None = None,
        state: str | None = None,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
        client: ZeroGClient | None = None,
        async_client: AsyncZeroG | None = None,
        trust_mode: Literal["private"] | None = None,
        image_jobs: bool = False,
    ) -> None:
        self.image_jobs = image_jobs
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
            trust_mode=trust_mode,
            client=client,
            async_client=async_client,
        )
        self.image_provider = image_provider
        self.speech_provider = speech_provider
        self._output_dir = Path(output_dir) if output_dir is not None else None
        self.max_fund_per_call = to_neuron(Decimal(max_fund_per_call), name="max_fund_per_call")
        self.funding_budget = to_neuron(Decimal(funding_budget), name="funding_budget")
        self.funded = 0
        """Neuron moved by ``fund_provider`` so far."""
        self._fund_lock = threading.Lock()
        self.spec_functions = [*READ_TOOLS, FUND_TOOL] if allow_funding else list(READ_TOOLS)

    def __repr__(self) -> str:
        return f"ZeroGToolSpec(tools={[f if isinstance(f, str) else f[0] for f in self.spec_functions]})"

    # ------------------------------------------------------------------ helpers

    def output_dir(self) -> Path:
        if self._output_dir is None:
            self._output_dir = Path(tempfile.mkdtemp(prefix="zerog-images-"))
        self._output_dir.mkdir(parents=True, exist_ok=True)
        return self._output_dir

    def _save(self, result: ImagesResponse) -> list[str]:
        places = []
        record = result.zerog
        stem = (record.chat_id if record is not None and record.chat_id else "image").replace("/", "_")
        for index, image in enumerate(result.data):
            if image.b64_json:
                path = self.output_dir() / f"{stem}-{index}.png"
                path.write_bytes(base64.b64decode(image.b64_json))
                places.append(str(path))
            elif image.url:
                places.append(image.url)
        return places

    def _resource(self, client: Any, provider: str | None, found: list[Service], service_type: str) -> Any:
        if provider is not None:
            return client, {"provider": provider}
        if not found:
            raise ValueError(f"no {service_type} provider is registered on this network")
        options = {"providers": [s.provider for s in found], "service_type": service_type}
        return cached_pool(self._holder, client, options), {}

    def _reserve(self, amount: str) -> int:
        try:
            value = to_neuron(Decimal(str(amount).strip()), name="amount")
        except ArithmeticError:
            raise ValueError(f"amount must be a number of 0G such as '0.5', got {amount!r}") from None
        with self._fund_lock:
            if value > self.max_fund_per_call:
                raise ValueError(
                    f"refused: {format_0g(value)} exceeds the per-call cap {format_0g(self.max_fund_per_call)}"
                )
            if self.funded + value > self.funding_budget:
                left = self.funding_budget - self.funded
                raise ValueError(f"refused: only {format_0g(left)} of the funding budget is left")
            self.funded += value
        return value

    def _release(self, value: int) -> None:
        with self._fund_lock:
            self.funded -= value

    # ------------------------------------------------------------------ sync tools

    def generate_image(self, prompt: str, size: str | None = None, n: int = 1) -> str:
        """Generate n images (1-4) for the prompt on 0G (size like "1024x1024", default: the provider's).

        Returns where the images were saved, the provider and the fee.
        """
        zg = self._holder.sync()
        found = [] if self.image_provider else zg.services.list(service_type="text-to-image")
        target, where = self._resource(zg, self.image_provider, found, "text-to-image")
        generate = target.images.jobs.create if self.image_jobs else target.images.generate
        result = generate(**where, prompt=prompt, n=max(1, min(n, 4)), size=size)
        return image_text(result, self._save(result))

    def transcribe_audio(self, file_path: str) -> str:
        """Transcribe the audio file at file_path with a 0G speech-to-text provider; returns the transcript."""
        zg = self._holder.sync()
        found = [] if self.speech_provider else zg.services.list(service_type="speech-to-text")
        target, where = self._resource(zg, self.speech_provider, found, "speech-to-text")
        path = Path(file_path)
        result: Transcription = target.audio.transcriptions.create(**where, file=(path.name, path.read_bytes()))
        return transcription_text(result)

    def get_balance(self) -> str:
        """Show the wallet's 0G ledger balance and the balance of each provider sub-account (read-only)."""
        zg = self._holder.sync()
        try:
            info: LedgerInfo = zg.ledger.get()
        except LedgerNotFoundError:
            return f"Wallet {zg.address} has no 0G ledger yet (creating one takes at least 3 0G)."
        accounts: list[SubAccount] = zg.ledger.sub_accounts()
        return balance_text(zg.address, info, accounts)

    def list_providers(self, service_type: str | None = None) -> str:
        """List 0G providers, optionally of one service_type: chatbot, text-to-image, speech-to-text, embedding."""
        return services_text(self._holder.sync().services.list(service_type=service_type or None))

    def fund_provider(self, provider: str, amount: str) -> str:
        """Move amount (in 0G, e.g. "0.5") from the ledger into the sub-account with provider. Capped."""
        value = self._reserve(amount)
        try:
            account = self._holder.sync().ledger.transfer(provider, value)
        except Exception:
            self._release(value)
            raise
        return f"Moved {format_0g(value)} to {account.provider}; sub-account balance {format_0g(account.balance)}."

    # ------------------------------------------------------------------ async tools

    async def agenerate_image(self, prompt: str, size: str | None = None, n: int = 1) -> str:
        """Generate n images (1-4) for the prompt on 0G (size like "1024x1024", default: the provider's).

        Returns where the images were saved, the provider and the fee.
        """
        zg = self._holder.aio()
        found = [] if self.image_provider else await zg.services.list(service_type="text-to-image")
        target, where = self._resource(zg, self.image_provider, found, "text-to-image")
        generate = target.images.jobs.create if self.image_jobs else target.images.generate
        result = await generate(**where, prompt=prompt, n=max(1, min(n, 4)), size=size)
        return image_text(result, await asyncio.to_thread(self._save, result))

    async def atranscribe_audio(self, file_path: str) -> str:
        """Transcribe the audio file at file_path with a 0G speech-to-text provider; returns the transcript."""
        zg = self._holder.aio()
        found = [] if self.speech_provider else await zg.services.list(service_type="speech-to-text")
        target, where = self._resource(zg, self.speech_provider, found, "speech-to-text")
        path = Path(file_path)
        data = await asyncio.to_thread(path.read_bytes)
        result: Transcription = await target.audio.transcriptions.create(**where, file=(path.name, data))
        return transcription_text(result)

    async def aget_balance(self) -> str:
        """Show the wallet's 0G ledger balance and the balance of each provider sub-account (read-only)."""
        zg = self._holder.aio()
        try:
            info: LedgerInfo = await zg.ledger.get()
        except LedgerNotFoundError:
            return f"Wallet {zg.address} has no 0G ledger yet (creating one takes at least 3 0G)."
        return balance_text(zg.address, info, await zg.ledger.sub_accounts())

    async def alist_providers(self, service_type: str | None = None) -> str:
        """List 0G providers, optionally of one service_type: chatbot, text-to-image, speech-to-text, embedding."""
        return services_text(await self._holder.aio().services.list(service_type=service_type or None))

    async def afund_provider(self, provider: str, amount: str) -> str:
        """Move amount (in 0G, e.g. "0.5") from the ledger into the sub-account with provider. Capped."""
        value = self._reserve(amount)
        try:
            account = await self._holder.aio().ledger.transfer(provider, value)
        except Exception:
            self._release(value)
            raise
        return f"Moved {format_0g(value)} to {account.provider}; sub-account balance {format_0g(account.balance)}."

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._holder.close()

    async def aclose(self) -> None:
        await self._holder.aclose()
