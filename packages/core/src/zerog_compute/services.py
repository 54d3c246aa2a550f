"""Service discovery: providers registered on the InferenceServing contract, and their catalogs."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field

from . import contracts
from ._context import Context
from ._io import Flow, Http, loads_json
from .errors import ConfigurationError, ContractRevertError, ProviderError, ServiceNotFoundError

log = logging.getLogger(__name__)

PAGE = 50
CATALOG_MAX_BYTES = 5 * 1024 * 1024
"""A provider's ``/v1/models`` answer is read up to this size (the SDK's cap)."""
VERIFIABLE = frozenset({"OpML", "TeeML", "ZKML"})


class Service(BaseModel):
    """A provider's on-chain service record."""

    model_config = ConfigDict(frozen=True)

    provider: str
    service_type: str
    url: str
    input_price: int
    output_price: int
    updated_at: int
    model: str
    verifiability: str
    additional_info: str
    tee_signer_address: str
    tee_signer_acknowledged: bool

    @classmethod
    def from_chain(cls, raw: dict[str, Any]) -> Service:
        return cls(
            provider=to_checksum_address(raw["provider"]),
            service_type=raw["serviceType"],
            url=raw["url"],
            input_price=raw["inputPrice"],
            output_price=raw["outputPrice"],
            updated_at=raw["updatedAt"],
            model=raw["model"],
            verifiability=raw["verifiability"],
            additional_info=raw["additionalInfo"],
            tee_signer_address=to_checksum_address(raw["teeSignerAddress"]),
            tee_signer_acknowledged=raw["teeSignerAcknowledged"],
        )

    @property
    def endpoint(self) -> str:
        """Base URL of the OpenAI-compatible routes (``url + /v1/proxy``)."""
        return self.url.rstrip("/") + "/v1/proxy"

    @property
    def info(self) -> dict[str, Any]:
        """``additionalInfo`` parsed as JSON (empty when missing or invalid)."""
        try:
            parsed = loads_json(self.additional_info) if self.additional_info else {}
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's recursion limit
            return {}
        return parsed if isinstance(parsed, dict) else {}

    @property
    def multi_model(self) -> bool:
        """``additionalInfo.MultiModel`` is true: the provider serves a catalog (``GET /v1/models``) beyond
        :attr:`model`, its on-chain default."""
        return self.info.get("MultiModel") is True

    @property
    def verifiable(self) -> bool:
        """TEE-verifiable: a verifiable type and an owner-acknowledged TEE signer."""
        return self.verifiability in VERIFIABLE and self.tee_signer_acknowledged


class ModelInfo(BaseModel):
    """One entry of a provider's ``GET /v1/models`` catalog."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str | None = None
    context_length: int | None = None
    max_completion_tokens: int | None = None
    pricing: dict[str, Any] = Field(default_factory=dict)
    verifiability: str | None = None
    tee_attested: bool | None = None


TOKENS_PER_PRICE = 1_000_000
"""Token prices are shown per this many tokens."""


def price_unit(service_type: str) -> str:
    """The unit a service's shown prices are in: per image, per second (speech) or per 1M tokens."""
    if service_type == "text-to-image":
        return "per image"
    if service_type == "speech-to-text":
        return "per second"
    return "per 1M tokens"


def unit_prices(service: Service) -> tuple[int | None, int | None]:
    """(input, output) price in neuron in the unit of :func:`price_unit`; None where nothing is charged.

    Images are billed ``n × outputPrice``; speech-to-text ``seconds × inputPrice``; tokens per token.
    """
    if service.service_type == "text-to-image":
        return None, service.output_price
    if service.service_type == "speech-to-text":
        return service.input_price, None
    return service.input_price * TOKENS_PER_PRICE, service.output_price * TOKENS_PER_PRICE


def checksum(address: str, *, name: str = "provider") -> str:
    """Validate an address argument and return its checksummed form."""
    if not isinstance(address, str) or not is_address(address):
        raise ConfigurationError(f"{name} must be a 0x-prefixed 20-byte address, got {address!r}")
    checksummed = _checksummed(address)
    digits = address[-40:]
    if digits != digits.lower() and digits != digits.upper() and digits != checksummed[-40:]:  # EIP-55 typo check
        raise ConfigurationError(
            f"{name} {address!r} is mixed-case but fails its EIP-55 checksum (a typo?): check it, or write it lowercase"
        )
    return checksummed


@functools.lru_cache(maxsize=4096)
def _checksummed(address: str) -> str:
    return to_checksum_address(address)


def get_service(ctx: Context, provider: str, *, fresh: bool = False) -> Flow[Service]:
    """The service of ``provider`` (cached for 10 minutes unless ``fresh``)."""
    address = checksum(provider)
    cached = None if fresh else ctx.services.get(address.lower())
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        raw = yield from contracts.call(ctx.inference, "getService", address)
    except ContractRevertError as exc:
        if exc.error_name == "ServiceNotExist":
            raise ServiceNotFoundError(
                f"provider {address} has no service on {ctx.network.name}; list providers with zg.services.list()"
            ) from None
        raise
    service = Service.from_chain(raw)
    ctx.services.put(address.lower(), service)
    return service


def list_services(
    ctx: Context,
    *,
    service_type: str | None = None,
    model: str | None = None,
    verifiable_only: bool = False,
    include_unacknowledged: bool = False,
) -> Flow[list[Service]]:
    """Every registered service (all pages), filtered.

    ``model`` matches the on-chain default model, and any model in the catalog of a multi-model provider
    (asked of its ``/v1/models``; a provider whose catalog cannot be read is left out, with a log line).
    """
    found: list[Service] = []
    offset = 0
    while True:
        page, total = yield from contracts.call(ctx.inference, "getAllServices", offset, PAGE)
        found.extend(Service.from_chain(raw) for raw in page)
        offset += PAGE
        if offset >= total or not page:
            break
    for service in found:
        ctx.services.put(service.provider.lower(), service)
    listed = list(_filter(found, service_type, verifiable_only, include_unacknowledged))
    if model is None:
        return listed
    serving = []
    for service in listed:
        if service.model == model or (service.multi_model and model in (yield from _catalog(service))):
            serving.append(service)
    return serving


def _catalog(service: Service) -> Flow[set[str]]:
    """The model ids a multi-model provider lists at ``/v1/models`` (empty when it cannot be read)."""
    try:
        response = yield Http("GET", service.url.rstrip("/") + "/v1/models", timeout=10.0, max_bytes=CATALOG_MAX_BYTES)
        data = loads_json(response.content)["data"] if response.status == 200 else []
        return {item["id"] for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)}
    except Exception as exc:  # a provider that cannot answer is not listed for the model, nothing more
        log.info("the model catalog of %s could not be read: %s", service.provider, exc.__class__.__name__)
        return set()


def _filter(
    services: Iterable[Service], service_type: str | None, verifiable_only: bool, include_unack: bool
) -> Iterable[Service]:
    for service in services:
        if service_type is not None and service.service_type != service_type:
            continue
        if verifiable_only and not service.verifiable:
            continue
        if not include_unack and not service.tee_signer_acknowledged:
            continue
        yield service


def list_models(ctx: Context, provider: str) -> Flow[list[ModelInfo]]:
    """The provider's live catalog from ``GET {url}/v1/models``."""
    service = yield from get_service(ctx, provider)
    response = yield Http("GET", service.url.rstrip("/") + "/v1/models", timeout=10.0)
    try:
        data = loads_json(response.content)["data"]
        return [ModelInfo.model_validate(item) for item in data]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ProviderError(
            f"provider {service.provider} returned an unexpected /v1/models response ({exc.__class__.__name__})",
            status_code=response.status,
            provider=service.provider,
        ) from None
