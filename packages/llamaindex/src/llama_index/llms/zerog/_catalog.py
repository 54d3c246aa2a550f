"""The provider catalog (``GET /v1/models``) behind ``LLMMetadata``: fetched lazily, cached, never raising.

Inside a running event loop a sync reader (``LLM.metadata`` is a property) cannot await: :meth:`Catalog.fetch_aside`
fetches on a worker thread with the sync client and waits a bounded time, so the values are right from the first
read without the loop doing the I/O itself. A failed fetch is retried at most once a minute; until then metadata
falls back to configured values and LlamaIndex defaults. Capability flags are read only when the catalog has them
(``supported_parameters``, ``input_modalities`` / ``architecture.input_modalities``, ``capabilities``); absent flags
mean "unknown".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from zerog_compute import AsyncZeroG, ModelInfo, ZeroG, ZeroGError

log = logging.getLogger(__name__)
RETRY_AFTER_S = 60.0
ASIDE_WAIT_S = 5.0
"""Longest a reader inside an event loop waits for the worker thread's fetch (then: defaults, the fetch goes on)."""


def _pick(entries: list[ModelInfo], model: str | None) -> ModelInfo | None:
    for entry in entries:
        if model and entry.id == model:
            return entry
    return entries[0] if entries else None


def _extra(info: ModelInfo, name: str) -> Any:
    return (info.model_extra or {}).get(name)


def supports_tools(info: ModelInfo | None) -> bool | None:
    """Whether the catalog says the model takes ``tools`` (None: it does not say)."""
    if info is None:
        return None
    params = _extra(info, "supported_parameters")
    if isinstance(params, list):
        return "tools" in params or "tool_choice" in params
    caps = _extra(info, "capabilities")
    if isinstance(caps, dict):
        for key in ("tools", "function_calling", "tool_calling"):
            if key in caps:
                return bool(caps[key])
    return None


def supports_images(info: ModelInfo | None) -> bool | None:
    """Whether the catalog says the model takes image input (None: it does not say)."""
    if info is None:
        return None
    modalities = _extra(info, "input_modalities")
    architecture = _extra(info, "architecture")
    if modalities is None and isinstance(architecture, dict):
        modalities = architecture.get("input_modalities")
    if isinstance(modalities, list):
        return "image" in modalities
    caps = _extra(info, "capabilities")
    if isinstance(caps, dict):
        for key in ("vision", "image_input", "images"):
            if key in caps:
                return bool(caps[key])
    return None


class Catalog:
    """The catalog entry of the model a component uses, fetched once (thread-safe)."""

    def __init__(self) -> None:
        self.info: ModelInfo | None = None
        self.loaded = False
        self._failed_at: float | None = None
        self._lock = threading.Lock()
        self._aside: threading.Event | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (Catalog, ())  # a copy starts with an empty cache (and a fresh lock)

    def due(self) -> bool:
        """Whether a fetch should be tried now."""
        if self.loaded:
            return False
        return self._failed_at is None or time.monotonic() - self._failed_at > RETRY_AFTER_S

    def _store(self, entries: list[ModelInfo], model: str | None) -> None:
        self.info, self.loaded, self._failed_at = _pick(entries, model), True, None

    def _failed(self, error: Exception) -> None:
        self._failed_at = time.monotonic()
        log.warning("0G catalog unavailable, using default metadata: %s: %s", type(error).__name__, error)

    def fetch(self, zg: ZeroG, provider: str | None, model: str | None, service_type: str) -> None:
        """Fetch with the sync client (``provider`` None: the first provider discovered for ``model``)."""
        with self._lock:
            if not self.due():
                return
            try:
                if provider is None:
                    found = zg.services.list(service_type=service_type, model=model)
                    if not found:
                        raise LookupError(f"no {service_type} provider serves {model!r}")
                    provider = found[0].provider
                self._store(zg.services.models(provider), model)
            except (ZeroGError, LookupError) as error:
                self._failed(error)

    def fetch_aside(
        self, build: Callable[[], ZeroG], provider: str | None, model: str | None, service_type: str
    ) -> None:
        """:meth:`fetch` on a worker thread (one at a time), waiting at most :data:`ASIDE_WAIT_S` for it.

        ``build`` returns the sync client; if it cannot (no key yet), nothing is fetched and nothing is marked failed.
        """
        with self._lock:
            done = self._aside
            if done is None:
                done = self._aside = threading.Event()
                threading.Thread(
                    target=self._fetch_then_set,
                    args=(build, provider, model, service_type, done),
                    name="zerog-catalog",
                    daemon=True,
                ).start()
        done.wait(ASIDE_WAIT_S)

    def _fetch_then_set(
        self,
        build: Callable[[], ZeroG],
        provider: str | None,
        model: str | None,
        service_type: str,
        done: threading.Event,
    ) -> None:
        try:
            client = build()
        except Exception as error:  # no key yet: defaults now, the catalog on a later read
            log.debug("0G catalog not fetched yet: %s", type(error).__name__)
        else:
            self.fetch(client, provider, model, service_type)
        finally:
            with self._lock:
                self._aside = None
            done.set()

    async def afetch(self, zg: AsyncZeroG, provider: str | None, model: str | None, service_type: str) -> None:
        """Fetch with the async client (same rules as :meth:`fetch`)."""
        if not self.due():
            return
        try:
            if provider is None:
                found = await zg.services.list(service_type=service_type, model=model)
                if not found:
                    raise LookupError(f"no {service_type} provider serves {model!r}")
                provider = found[0].provider
            self._store(await zg.services.models(provider), model)
        except (ZeroGError, LookupError) as error:
            self._failed(error)
