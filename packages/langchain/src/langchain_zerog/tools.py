"""LangChain tools over 0G Compute: image generation, speech to text, balance, providers, and a capped transfer.

The read-only tools and the generation tools spend only what a request costs; the only tool that
moves funds, :class:`ZeroGTransferTool`, is never part of :class:`ZeroGToolkit` unless
``allow_fund_transfers=True``, and refuses any amount above its ``max_transfer`` cap (and, once
``max_total_transfer`` is reached, everything).
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool, BaseToolkit, ToolException
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from zerog_compute import (
    Amount,
    ImagesResponse,
    LedgerInfo,
    Service,
    SubAccount,
    Transcription,
    ZeroGError,
    ZeroGRecord,
    format_0g,
    to_0g,
    to_neuron,
)

from ._client import ENV_PRIVATE_KEY, ENV_ROUTER_API_KEY, ZeroGClientFields
from ._convert import record_metadata
from .errors import tool_error

_CONNECTION_FIELDS = [name for name in ZeroGClientFields.model_fields if name not in ("client", "async_client")]
_SECRETS = {"private_key": ENV_PRIVATE_KEY, "router_api_key": ENV_ROUTER_API_KEY}


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('write 0G amounts as strings or Decimal, e.g. "0.5" (floats are inexact)')
    return value


Amount0G = Annotated[Decimal, BeforeValidator(_no_float)]
ServiceType = Literal["chatbot", "text-to-image", "speech-to-text", "embedding"]


class _ZeroGTool(ZeroGClientFields, BaseTool):
    """Common base: connection fields, errors of the core turned into tool errors the model can read."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    handle_tool_error: bool | str | Any = True

    @property
    def lc_secrets(self) -> dict[str, str]:
        return dict(_SECRETS)


class _TargetedTool(_ZeroGTool):
    provider: str | None = None
    """One provider address."""
    providers: list[str] | None = None
    """Providers to fail over between (default: every acknowledged provider of the service type)."""
    model: str | None = None
    """Discover the providers serving this model."""

    def _options(self) -> dict[str, Any]:
        return {"provider": self.provider, "providers": self.providers, "model": self.model}


def _zerog_meta(record: ZeroGRecord | None) -> dict[str, Any]:
    meta = record_metadata(record)
    if record is not None:
        meta["zerog_model"] = record.model
    return meta


# --------------------------------------------------------------------------- image generation


class ImageGenerationInput(BaseModel):
    """Input of :class:`ZeroGImageGenerationTool`."""

    prompt: str = Field(description="What the image should show.")
    size: str | None = Field(default=None, description="Image size as WIDTHxHEIGHT, e.g. 512x512.")
    n: int = Field(default=1, ge=1, le=4, description="Number of images (1-4).")


class ZeroGImageGenerationTool(_TargetedTool):
    """Generate images with a 0G ``text-to-image`` provider. The model sees a short summary; the images
    (base64 PNG or URLs), the provider, chat id, fee and verification are the tool message's artifact."""

    name: str = "zerog_image_generation"
    description: str = (
        "Generate images from a text prompt on the 0G Compute Network. Input: the prompt, optional size "
        "(e.g. 512x512) and number of images. Returns a summary; the images are attached as an artifact."
    )
    args_schema: type[BaseModel] = ImageGenerationInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    async_job: bool = False
    """Router mode: generate through the Router's async image jobs (submit, poll with backoff, verify), the
    path its docs recommend for production."""

    def _images(self, target: Any) -> Any:
        return target.images.jobs.create if self.async_job else target.images.generate

    def _result(self, reply: ImagesResponse, prompt: str) -> tuple[str, dict[str, Any]]:
        images = [image.model_dump(exclude_none=True) for image in reply.data]
        meta = _zerog_meta(reply.zerog)
        content = (
            f"Generated {len(images)} image(s) for {prompt!r} on 0G provider {meta.get('zerog_provider')} "
            f"(fee {meta.get('zerog_fee_0g')} 0G)."
        )
        return content, {"images": images, **meta}

    def _run(self, prompt: str, size: str | None = None, n: int = 1) -> tuple[str, dict[str, Any]]:
        try:
            target, where = self.zerog_clients.target("text-to-image", **self._options())
            return self._result(self._images(target)(prompt=prompt, size=size, n=n, **where), prompt)
        except ZeroGError as exc:
            raise tool_error(exc) from exc

    async def _arun(self, prompt: str, size: str | None = None, n: int = 1) -> tuple[str, dict[str, Any]]:
        try:
            target, where = await self.zerog_clients.atarget("text-to-image", **self._options())
            return self._result(await self._images(target)(prompt=prompt, size=size, n=n, **where), prompt)
        except ZeroGError as exc:
            raise tool_error(exc) from exc


# --------------------------------------------------------------------------- speech to text


class SpeechToTextInput(BaseModel):
    """Input of :class:`ZeroGSpeechToTextTool`."""

    file_path: str = Field(description="Path of a local audio file (wav, mp3, ...).")
    language: str | None = Field(default=None, description="Language of the audio as ISO-639-1, e.g. en.")


class ZeroGSpeechToTextTool(_TargetedTool):
    """Transcribe an audio file with a 0G ``speech-to-text`` provider; the transcript is the content, the
    full result (duration, segments, usage, provider, fee, verification) the artifact."""

    name: str = "zerog_speech_to_text"
    description: str = (
        "Transcribe a local audio file to text on the 0G Compute Network. Input: the file path and "
        "optionally its language. Returns the transcript."
    )
    args_schema: type[BaseModel] = SpeechToTextInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    @staticmethod
    def _file(file_path: str) -> tuple[str, bytes]:
        path = Path(file_path).expanduser()
        if not path.is_file():
            raise ToolException(f"audio file {file_path!r} does not exist")
        return path.name, path.read_bytes()

    @staticmethod
    def _result(reply: Transcription) -> tuple[str, dict[str, Any]]:
        return reply.text, {**reply.model_dump(exclude={"zerog"}, exclude_none=True), **_zerog_meta(reply.zerog)}

    def _run(self, file_path: str, language: str | None = None) -> tuple[str, dict[str, Any]]:
        params = {"language": language} if language else {}
        try:
            target, where = self.zerog_clients.target("speech-to-text", **self._options())
            return self._result(target.audio.transcriptions.create(file=self._file(file_path), **where, **params))
        except ZeroGError as exc:
            raise tool_error(exc) from exc

    async def _arun(self, file_path: str, language: str | None = None) -> tuple[str, dict[str, Any]]:
        params = {"language": language} if language else {}
        try:
            target, where = await self.zerog_clients.atarget("speech-to-text", **self._options())
            reply = await target.audio.transcriptions.create(file=self._file(file_path), **where, **params)
            return self._result(reply)
        except ZeroGError as exc:
            raise tool_error(exc) from exc


# --------------------------------------------------------------------------- read-only account tools


class BalanceInput(BaseModel):
    """Input of :class:`ZeroGBalanceTool` (none needed)."""


def _balance_text(ledger: LedgerInfo, accounts: list[SubAccount]) -> str:
    return json.dumps(
        {
            "address": ledger.user,
            "ledger_total_0g": str(ledger.total_0g),
            "ledger_available_0g": str(ledger.available_0g),
            "ledger_locked_0g": str(to_0g(ledger.locked)),
            "sub_accounts": [
                {
                    "provider": a.provider,
                    "balance_0g": str(to_0g(a.balance)),
                    "pending_refund_0g": str(to_0g(a.pending_refund)),
                    "acknowledged": a.acknowledged,
                }
                for a in accounts
            ],
        }
    )


class ZeroGBalanceTool(_ZeroGTool):
    """Read-only: the wallet's 0G ledger balance and its provider sub-accounts."""

    name: str = "zerog_balance"
    description: str = (
        "Show the 0G Compute account balance: the ledger's total and available 0G and the balance of each "
        "provider sub-account. Read-only; takes no input."
    )
    args_schema: type[BaseModel] = BalanceInput

    def _run(self) -> str:
        try:
            zg = self.zerog_clients.sync()
            return _balance_text(zg.ledger.get(), zg.ledger.sub_accounts())
        except ZeroGError as exc:
            raise tool_error(exc) from exc

    async def _arun(self) -> str:
        try:
            zg = self.zerog_clients.aio()
            return _balance_text(await zg.ledger.get(), await zg.ledger.sub_accounts())
        except ZeroGError as exc:
            raise tool_error(exc) from exc


class ProvidersInput(BaseModel):
    """Input of :class:`ZeroGProvidersTool`."""

    service_type: ServiceType | None = Field(default=None, description="Only providers of this service type.")
    model: str | None = Field(default=None, description="Only providers serving this model.")


def _providers_text(services: list[Service]) -> str:
    return json.dumps(
        [
            {
                "provider": s.provider,
                "service_type": s.service_type,
                "model": s.model,
                "input_price_neuron": s.input_price,
                "output_price_neuron": s.output_price,
                "verifiability": s.verifiability,
                "verifiable": s.verifiable,
            }
            for s in services
        ]
    )


class ZeroGProvidersTool(_ZeroGTool):
    """Read-only: the providers registered on the 0G network, optionally by service type and model."""

    name: str = "zerog_providers"
    description: str = (
        "List 0G Compute providers (address, service type, model, prices in neuron per token/unit, "
        "verifiability). Optional filters: service_type (chatbot, text-to-image, speech-to-text, embedding) "
        "and model. Read-only."
    )
    args_schema: type[BaseModel] = ProvidersInput

    def _run(self, service_type: ServiceType | None = None, model: str | None = None) -> str:
        try:
            return _providers_text(self.zerog_clients.sync().services.list(service_type=service_type, model=model))
        except ZeroGError as exc:
            raise tool_error(exc) from exc

    async def _arun(self, service_type: ServiceType | None = None, model: str | None = None) -> str:
        try:
            services = await self.zerog_clients.aio().services.list(service_type=service_type, model=model)
            return _providers_text(services)
        except ZeroGError as exc:
            raise tool_error(exc) from exc


# --------------------------------------------------------------------------- the one tool that moves funds


class TransferInput(BaseModel):
    """Input of :class:`ZeroGTransferTool`."""

    provider: str = Field(description="Address of the provider whose sub-account receives the funds.")
    amount: str = Field(description="Amount in 0G as a decimal string, e.g. '0.5'.")


class ZeroGTransferTool(_ZeroGTool):
    """Moves funds: ledger → a provider sub-account, at most ``max_transfer`` 0G per call and
    ``max_total_transfer`` 0G over the tool's life. Only give it to an agent on purpose."""

    name: str = "zerog_transfer"
    description: str = (
        "Move 0G from the ledger into a provider's sub-account so that provider can serve requests. "
        "Input: the provider address and the amount in 0G. Capped; larger amounts are refused."
    )
    args_schema: type[BaseModel] = TransferInput
    max_transfer: Amount0G = Decimal("1")
    """Largest amount (0G) one call may move."""
    max_total_transfer: Amount0G | None = None
    """Largest total (0G) this tool may move; None = only the per-call cap."""

    _spent: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _reserve(self, amount: str) -> int:
        """Check the caps and book the amount (neuron) before sending."""
        try:
            neuron = to_neuron(amount, name="amount")
        except ZeroGError as exc:
            raise tool_error(exc) from exc
        cap = to_neuron(str(self.max_transfer), name="max_transfer")
        if neuron > cap:
            raise ToolException(f"refused: {format_0g(neuron)} is above the cap of {format_0g(cap)} per transfer")
        with self._lock:
            if self.max_total_transfer is not None:
                total = to_neuron(str(self.max_total_transfer), name="max_total_transfer", allow_zero=True)
                if self._spent + neuron > total:
                    left = format_0g(max(total - self._spent, 0))
                    raise ToolException(f"refused: this tool may move only {left} more (max_total_transfer)")
            self._spent += neuron
        return neuron

    def _release(self, neuron: int) -> None:
        with self._lock:
            self._spent -= neuron

    @staticmethod
    def _text(account: SubAccount, neuron: Amount) -> str:
        held = format_0g(account.balance)
        return f"moved {format_0g(int(neuron))} to {account.provider}; its sub-account holds {held}"

    def _run(self, provider: str, amount: str) -> str:
        neuron = self._reserve(amount)
        try:
            return self._text(self.zerog_clients.sync().ledger.transfer(provider, neuron), neuron)
        except ZeroGError as exc:
            self._release(neuron)
            raise tool_error(exc) from exc

    async def _arun(self, provider: str, amount: str) -> str:
        neuron = self._reserve(amount)
        try:
            return self._text(await self.zerog_clients.aio().ledger.transfer(provider, neuron), neuron)
        except ZeroGError as exc:
            self._release(neuron)
            raise tool_error(exc) from exc


# --------------------------------------------------------------------------- toolkit


class ZeroGToolkit(ZeroGClientFields, BaseToolkit):
    """The 0G tools sharing one wallet connection: image generation, speech to text, balance, providers;
    plus :class:`ZeroGTransferTool` only with ``allow_fund_transfers=True`` (capped by ``max_transfer``)."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    image_provider: str | None = None
    image_model: str | None = None
    speech_provider: str | None = None
    speech_model: str | None = None
    include_image_generation: bool = True
    include_speech_to_text: bool = True
    allow_fund_transfers: bool = False
    """Include the transfer tool. Off by default: an agent with it can move your funds (within the caps)."""
    max_transfer: Amount0G = Decimal("1")
    max_total_transfer: Amount0G | None = None

    @property
    def lc_secrets(self) -> dict[str, str]:
        return dict(_SECRETS)

    _tools: list[BaseTool] | None = PrivateAttr(default=None)

    def _forget_clients(self) -> None:
        """A copy builds its own tools too, on its own client (its wallet, its caps' running totals)."""
        super()._forget_clients()
        self._tools = None

    def get_tools(self) -> list[BaseTool]:
        """The tools, all using this toolkit's (lazily built) core clients. Built once: the transfer
        tool's running total (``max_total_transfer``) holds however often this is called."""
        if self._tools is None:
            self._tools = self._build_tools()
        return list(self._tools)

    def _build_tools(self) -> list[BaseTool]:
        shared = self.zerog_clients
        common: dict[str, Any] = {name: getattr(self, name) for name in _CONNECTION_FIELDS}
        tools: list[_ZeroGTool] = []
        if self.include_image_generation:
            tools.append(ZeroGImageGenerationTool(provider=self.image_provider, model=self.image_model, **common))
        if self.include_speech_to_text:
            tools.append(ZeroGSpeechToTextTool(provider=self.speech_provider, model=self.speech_model, **common))
        tools += [ZeroGBalanceTool(**common), ZeroGProvidersTool(**common)]
        if self.allow_fund_transfers:
            tools.append(
                ZeroGTransferTool(max_transfer=self.max_transfer, max_total_transfer=self.max_total_transfer, **common)
            )
        for tool in tools:
            tool._clients = shared
        return list(tools)
