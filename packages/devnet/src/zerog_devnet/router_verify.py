"""What the Router emulator checks and bills on each provider answer: the provider's bill (the broker's formulas),
and its TEE signature — signer and the hashes of the exact bytes exchanged — for ``verify_tee``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Any

import httpx

from .broker import billing, signing
from .router_requests import IMAGE_ROUTES, Spec
from .router_state import RoutedProvider

if TYPE_CHECKING:
    from .router import RouterRuntime

SIGNATURE_RETRIES = 4
"""Tries of a provider's signature endpoint (it may store the signature a moment after answering)."""


def decoded_images(data: dict[str, Any]) -> list[bytes] | None:
    images = []
    for item in data.get("data") or []:
        encoded = item.get("b64_json") if isinstance(item, dict) else None
        if not isinstance(encoded, str):
            return None
        try:
            images.append(base64.b64decode(encoded))
        except (binascii.Error, ValueError):
            return None
    return images


def answer_fee(spec: Spec, provider: RoutedProvider, data: dict[str, Any]) -> billing.FeeBreakdown:
    """The provider's bill for this response (the broker's formulas), which the Router passes on."""
    prices = provider.prices
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    if spec.route in IMAGE_ROUTES:
        return billing.image_fee(spec.n_images, prices)
    if spec.route == "/audio/transcriptions":
        if usage is None and isinstance(data.get("duration"), (int, float)):
            usage = {"type": "duration", "seconds": data["duration"]}
        return billing.transcription_fee(usage, str(data.get("text", "")), prices)
    content = "".join(
        str((c.get("message") or {}).get("content") or "") for c in data.get("choices", []) if isinstance(c, dict)
    )
    return billing.chat_fee(usage, content, prices)


def sha256hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bound(text: str, request_body: bytes, response_body: bytes, images: list[bytes] | None) -> bool:
    """The signed ``sha256(request):sha256(response)`` (or image hashes) match the exchanged bytes."""
    request_hash, _, response_part = text.partition(":")
    if request_hash != sha256hex(request_body):
        return False
    if response_part == sha256hex(response_body):
        return True
    return images is not None and response_part == ",".join(sha256hex(image) for image in images)


async def verify_answer(
    rt: RouterRuntime, provider: RoutedProvider, chat_key: str | None, spec: Spec, response_body: bytes, data: Any
) -> tuple[bool, str]:
    """Fetch the provider's signature for ``chat_key`` and check signer and content binding."""
    forced = rt.faults.state.tee_verified
    verified, detail = await check_signature(rt, provider, chat_key, spec, response_body, data)
    if forced is not None:
        return forced, f"forced by the Router fault tee_verified={forced} ({detail})"
    return verified, detail


async def check_signature(
    rt: RouterRuntime, provider: RoutedProvider, chat_key: str | None, spec: Spec, response_body: bytes, data: Any
) -> tuple[bool, str]:
    if not chat_key:
        return False, "the provider sent no ZG-Res-Key, so there is no signature to fetch"
    url = f"{provider.endpoint}/signature/{chat_key}"
    status = 0
    for attempt in range(SIGNATURE_RETRIES):
        try:
            result = await rt.client().get(url, params={"model": provider.model}, timeout=10.0)
        except httpx.HTTPError as exc:
            return False, f"signature fetch failed: {type(exc).__name__}: {exc}"
        status = result.status_code
        if status == 200:
            break
        await asyncio.sleep(0.05 * (attempt + 1))
    else:
        return False, f"the provider's signature endpoint answered HTTP {status}"
    try:
        payload = result.json()
        text, signature = str(payload["text"]), str(payload["signature"])
        recovered = signing.recover_text_signer(text, signature)
    except Exception as exc:  # malformed JSON or signature
        return False, f"malformed signature from the provider: {exc}"
    if recovered.lower() != provider.tee_signer.lower():
        return False, f"signed by {recovered}, not by the provider's on-chain TEE signer {provider.tee_signer}"
    images = decoded_images(data) if spec.route in IMAGE_ROUTES and isinstance(data, dict) else None
    if spec.route in IMAGE_ROUTES and images is None:
        if text.partition(":")[0] == sha256hex(spec.forward_body):
            return True, "TEE signer verified; image URLs: only the request hash could be compared"
        return False, "the signed request hash does not match the request the Router sent"
    if not bound(text, spec.forward_body, response_body, images):
        return False, "TEE signer verified, but the signed hashes do not match the bytes exchanged"
    return True, "signed by the provider's on-chain TEE signer over the exact bytes exchanged"
