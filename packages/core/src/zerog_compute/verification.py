"""Response verification and attestation checks: pure logic, no I/O (the client fetches, this module judges).

The SDK's rules (verifiable service, acknowledged TEE signer, parseable ``additionalInfo``, expected signer,
EIP-191 recovery) come first; on top of them this module checks that the signed text is bound to the bytes
actually exchanged (``sha256hex(request):sha256hex(response)``), which the SDK does not do. The response hash
decides: a wrong one is always ``content_mismatch``; a request hash that differs alone is a provider that
rewrote the request before forwarding and signing it (production brokers do), reported ``verified`` with
``request_bound=False`` and a note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, Literal, Protocol, TypedDict

from eth_utils.crypto import keccak
from pydantic import BaseModel, ConfigDict

from . import routing_proof
from ._io import loads_json
from .errors import VerificationError
from .signer import recover_hash

__all__ = [
    "VERIFIABLE",
    "AttestationReport",
    "ServiceFields",
    "ServiceLike",
    "Verdict",
    "VerificationPolicy",
    "VerificationResult",
    "apply_policy",
    "check_attestation",
    "content_binding",
    "evaluate",
    "expected_image_text",
    "expected_signer",
    "expected_text",
    "recover_signer",
    "routing_checked",
    "verifiability_problem",
]

VerificationPolicy = Literal["off", "warn", "enforce"]
VERIFIABLE = frozenset({"OpML", "TeeML", "ZKML"})

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH = re.compile(r"[0-9a-fA-F]{64}")


class Verdict(str, Enum):
    """The outcome of verifying one response."""

    verified = "verified"
    """The expected key signed a hash of this response (and of this request, unless ``request_bound`` is False:
    the provider signed the request it forwarded after rewriting it)."""
    signed_unbound = "signed_unbound"
    """The right key signed a text that does not bind this exchange (no checkable hashes of it)."""
    routing_mismatch = "routing_mismatch"
    """A TeeTLS routing proof names another provider type or identity than the chain's, or a malformed
    certificate fingerprint (or a centralized provider signed no routing proof): see :mod:`.routing_proof`."""
    certificate_mismatch = "certificate_mismatch"
    """Opt-in live check: the upstream's TLS certificate is not the one the routing proof names."""
    invalid_signature = "invalid_signature"
    content_mismatch = "content_mismatch"
    """The right key signed a response hash that is not this response's."""
    not_verifiable = "not_verifiable"
    unavailable = "unavailable"
    pending = "pending"
    skipped = "skipped"


_FAILURES = frozenset(
    {
        Verdict.signed_unbound,
        Verdict.routing_mismatch,
        Verdict.certificate_mismatch,
        Verdict.invalid_signature,
        Verdict.content_mismatch,
        Verdict.not_verifiable,
        Verdict.unavailable,
    }
)


class ServiceLike(Protocol):
    """The service fields verification reads (``zerog_compute.services.Service`` fits)."""

    @property
    def verifiability(self) -> str: ...

    @property
    def tee_signer_acknowledged(self) -> bool: ...

    @property
    def additional_info(self) -> str: ...

    @property
    def tee_signer_address(self) -> str: ...


class ServiceFields(TypedDict, total=False):
    """The same fields as a plain mapping (``provider`` is optional, used only in results; ``service_type``
    ``"text-to-image"`` makes a hash list an image list rather than a mismatch)."""

    verifiability: str
    tee_signer_acknowledged: bool
    additional_info: str
    tee_signer_address: str
    provider: str
    service_type: str


ServiceInput = ServiceLike | ServiceFields | Mapping[str, Any]


def _field(service: ServiceInput, name: str) -> Any:
    if isinstance(service, Mapping):
        return service.get(name)
    return getattr(service, name, None)


class VerificationResult(BaseModel):
    """What verification concluded about one response, with the evidence."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    chat_id: str | None = None
    provider: str | None = None
    expected_signer: str | None = None
    recovered_signer: str | None = None
    signed_text: str | None = None
    content_bound: bool | None = None
    """True: both signed hashes match our bytes; False: one differs; None: the text binds nothing checkable."""
    request_bound: bool | None = None
    """Whether the signed request hash is that of the bytes sent. False on a ``verified`` result: the provider
    rewrote the request before forwarding it and signed what it forwarded (the detail says so)."""
    response_bound: bool | None = None
    """Whether the signed response hash is that of the bytes received: False is always ``content_mismatch``."""
    detail: str = ""

    @property
    def ok(self) -> bool:
        """The response was verified (right signer, and no content mismatch)."""
        return self.verdict is Verdict.verified

    def raise_for_verdict(self) -> None:
        """Raise :class:`VerificationError` unless verified (or still pending / skipped)."""
        if self.verdict in _FAILURES:
            raise VerificationError(
                f"response verification failed ({self.verdict.value}): {self.detail}",
                chat_id=self.chat_id,
                provider=self.provider,
            )

    @classmethod
    def skipped(cls, *, chat_id: str | None = None, provider: str | None = None) -> VerificationResult:
        """The result when the policy is ``off``."""
        return cls(verdict=Verdict.skipped, chat_id=chat_id, provider=provider, detail="verification is off")

    @classmethod
    def pending(cls, *, chat_id: str | None = None, provider: str | None = None) -> VerificationResult:
        """The result before the signature has been fetched (e.g. while a stream is still open)."""
        return cls(verdict=Verdict.pending, chat_id=chat_id, provider=provider, detail="not verified yet")


def apply_policy(result: VerificationResult, policy: VerificationPolicy) -> VerificationResult:
    """``off`` → a skipped result; ``warn`` → the result as is; ``enforce`` → raise on any failed verdict."""
    if policy == "off":
        return VerificationResult.skipped(chat_id=result.chat_id, provider=result.provider)
    if policy == "enforce":
        result.raise_for_verdict()
    return result


# ---------------------------------------------------------------------------------------------------------
# the SDK's rules (processResponse, client-protocol §9.2)


def _additional_info(service: ServiceInput) -> tuple[dict[str, Any] | None, str | None]:
    """``additionalInfo`` parsed (non-object JSON counts as ``{}``, like JS property access), or the problem."""
    raw = _field(service, "additional_info")
    if not raw:
        return None, "the service's additionalInfo does not exist"
    if not isinstance(raw, str):
        return None, "the service's additionalInfo is not a string"
    try:
        parsed = loads_json(raw)
    except (ValueError, RecursionError):
        return None, "the service's additionalInfo is not valid JSON"
    if parsed is None:
        return None, "the service's additionalInfo is JSON null"
    return (parsed if isinstance(parsed, dict) else {}), None


def verifiability_problem(service: ServiceInput) -> str | None:
    """Why the SDK would refuse to verify this service (steps 2-5), or None."""
    verifiability = _field(service, "verifiability")
    if not isinstance(verifiability, str) or verifiability not in VERIFIABLE:
        return f"this service is not verifiable (verifiability {verifiability!r}; expected OpML, TeeML or ZKML)"
    if not _field(service, "tee_signer_acknowledged"):
        return "the provider's TEE signer is not acknowledged by the contract owner"
    return _additional_info(service)[1]


def expected_signer(service: ServiceInput) -> str | None:
    """The address that must have signed responses (step 6), or None when it cannot be determined.

    ``tee_signer_address``, replaced by ``additionalInfo.TargetTeeAddress`` when ``TargetSeparated`` is JSON
    ``true``, the provider is not centralized and the target address is non-empty.
    """
    info = _additional_info(service)[0]
    if info is None:
        return None
    address = _field(service, "tee_signer_address")
    provider_type = info.get("ProviderType") or "decentralized"
    if provider_type not in ("decentralized", "centralized"):
        provider_type = "decentralized"
    target = info.get("TargetTeeAddress")
    if info.get("TargetSeparated") is True and provider_type != "centralized" and target:
        address = target
    return address if isinstance(address, str) and _ADDRESS.fullmatch(address) else None


def recover_signer(text: str, signature: str) -> str:
    """The checksummed address that signed ``text`` (EIP-191 over its UTF-8 bytes); VerificationError if malformed."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise VerificationError("signed text is not valid Unicode") from None
    return recover_hash(keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data), signature)


# ---------------------------------------------------------------------------------------------------------
# content binding (provider-protocol §5.2)


class Sha256(str):
    """A body known only by its SHA-256 hex digest (a stream keeps a running hash, never every byte)."""


Body = bytes | Sha256
"""An exchanged body: its bytes, or its :class:`Sha256` digest."""


def _sha(data: Body) -> str:
    return str(data) if isinstance(data, Sha256) else hashlib.sha256(data).hexdigest()


def expected_text(request_body: bytes, response_body: Body) -> str:
    """The "chat" format: ``sha256hex(request) + ":" + sha256hex(response)``."""
    return f"{_sha(request_body)}:{_sha(response_body)}"


def expected_image_text(request_body: bytes, images: Sequence[bytes]) -> str:
    """The image format: ``sha256hex(request) + ":" + ",".join(sha256hex(image))`` over decoded images."""
    return f"{_sha(request_body)}:{','.join(_sha(image) for image in images)}"


def _response_bound(
    hashes: list[str], response_body: Body, images: Sequence[bytes] | None, images_unknown: bool
) -> bool | None:
    if len(hashes) == 1 and hashes[0] == _sha(response_body):
        return True
    if images:
        return hashes == [_sha(image) for image in images]
    return None if images_unknown else False  # a chat reply is one body: a hash list cannot be its hash


def _binding(
    signed_text: str,
    request_body: bytes,
    response_body: Body,
    images: Sequence[bytes] | None,
    images_unknown: bool = False,
) -> tuple[bool | None, bool | None]:
    """(request hash matches, response hash matches); None where the text gives nothing to compare."""
    parts = signed_text.split(":")
    if len(parts) not in (2, 5) or not _HASH.fullmatch(parts[0]):
        return None, None
    request_ok = parts[0].lower() == _sha(request_body)
    if len(parts) == 5:  # routing proof: req:resp:providerType:providerIdentity:tlsCertFingerprint
        return request_ok, (parts[1].lower() == _sha(response_body) if _HASH.fullmatch(parts[1]) else None)
    hashes = parts[1].split(",")
    if not all(_HASH.fullmatch(item) for item in hashes):
        return request_ok, None
    return request_ok, _response_bound([item.lower() for item in hashes], response_body, images, images_unknown)


def _combine(request_ok: bool | None, response_ok: bool | None) -> bool | None:
    if request_ok is False or response_ok is False:
        return False
    if request_ok and response_ok:
        return True
    return None


def content_binding(
    signed_text: str,
    *,
    request_body: bytes,
    response_body: Body,
    images: Sequence[bytes] | None = None,
    images_unknown: bool = False,
) -> bool | None:
    """Whether the signed hashes are those of our bytes: True, False, or None when the text binds nothing checkable.

    Chat (``req:resp``), image (``req:img0,img1,…``; pass the decoded ``images``) and routing-proof
    (``req:resp:type:identity:fingerprint``) texts are checked. A hash list is a mismatch for a chat reply;
    for an image response whose images are not at hand (``images_unknown``) it gives None.
    """
    return _combine(*_binding(signed_text, request_body, response_body, images, images_unknown))


# ---------------------------------------------------------------------------------------------------------
# the verdict


REWRITTEN_REQUEST = (
    "the signed request hash differs from the request sent: the provider rewrote the request before forwarding "
    "it (production brokers inject stream_options, fill in the model, strip or add fields) and signed what it "
    "forwarded, so the signature binds this response but not the exact request"
)
"""The note on a ``verified`` result whose ``request_bound`` is False."""


def _mismatch_detail(request_ok: bool | None) -> str:
    if request_ok is False:
        return "neither the request hash nor the response hash matches the bytes exchanged"
    return "the signed response hash differs from the response received"


def _unbound_detail(request_ok: bool | None, missing_images: str | None) -> str:
    if request_ok is None:
        return "the signed text is not sha256(request):sha256(response): it binds nothing of this exchange"
    if request_ok is False:
        reason = "its response part is not a hash"
        if missing_images:
            reason = f"the images could not be bound ({missing_images})"
        return f"the signed request hash differs from the request sent and {reason}: it binds nothing checkable"
    if missing_images is not None:
        return f"the images could not be bound: {missing_images}"
    return "the signed text's response part is not a hash of the response received"


def _judge_signature(
    base: dict[str, Any],
    text: str,
    signature: str,
    bodies: tuple[bytes, Body, Sequence[bytes] | None],
    missing_images: str | None,
) -> VerificationResult:
    expected: str = base["expected_signer"]
    try:
        recovered = recover_signer(text, signature)
    except VerificationError as exc:
        return VerificationResult(**base, verdict=Verdict.invalid_signature, signed_text=text, detail=str(exc))
    evidence = {**base, "recovered_signer": recovered, "signed_text": text}
    if recovered.lower() != expected.lower():
        detail = f"the response was signed by {recovered}, not by the TEE signer {expected}"
        return VerificationResult(**evidence, verdict=Verdict.invalid_signature, detail=detail)
    request_ok, response_ok = _binding(text, *bodies, missing_images is not None)
    bound = _combine(request_ok, response_ok)
    evidence |= {"content_bound": bound, "request_bound": request_ok, "response_bound": response_ok}
    if response_ok is False:
        detail = f"signed by the TEE signer {expected}, but {_mismatch_detail(request_ok)}"
        return VerificationResult(**evidence, verdict=Verdict.content_mismatch, detail=detail)
    if response_ok and request_ok:
        detail = f"signed by the TEE signer {expected}; the signed hashes match the request and response"
        return VerificationResult(**evidence, verdict=Verdict.verified, detail=detail)
    if response_ok:  # request_ok is False: see REWRITTEN_REQUEST
        detail = f"signed by the TEE signer {expected}; the signed response hash matches; {REWRITTEN_REQUEST}"
        return VerificationResult(**evidence, verdict=Verdict.verified, detail=detail)
    detail = f"signed by the TEE signer {expected}, but {_unbound_detail(request_ok, missing_images)}"
    return VerificationResult(**evidence, verdict=Verdict.signed_unbound, detail=detail)


def _payload_fields(payload: object) -> tuple[str, str] | None:
    if not isinstance(payload, Mapping):
        return None
    text, signature = payload.get("text"), payload.get("signature")
    if not isinstance(text, str) or not isinstance(signature, str):
        return None
    return text, signature


def _missing_images(service: ServiceInput, images: Sequence[bytes] | None, problem: str | None) -> str | None:
    """Why an image response's images are not at hand (None when they are, or for other services)."""
    if problem is not None:
        return problem
    if images is None and _field(service, "service_type") == "text-to-image":
        return "the images were not given"
    return None


def evaluate(
    *,
    service: ServiceInput,
    chat_id: str | None,
    signature_payload: Mapping[str, Any] | None,
    request_body: bytes,
    response_body: Body,
    images: Sequence[bytes] | None = None,
    fetch_error: str | None = None,
    provider: str | None = None,
    images_problem: str | None = None,
) -> VerificationResult:
    """Judge a response in the SDK's order (chat id, service, signer, signature), then its content binding.

    ``signature_payload`` is the JSON of ``/v1/proxy/signature/{chat_id}`` (``text``, ``signature``);
    ``fetch_error`` says why it could not be fetched; ``images_problem`` why an image response's images
    could not be obtained (their hashes then cannot be checked: ``signed_unbound`` at best).
    Never raises on provider data.
    """
    who = provider or _field(service, "provider")
    base: dict[str, Any] = {"chat_id": chat_id or None, "provider": who if isinstance(who, str) else None}
    if not chat_id:
        detail = "no chat id: the provider sent neither a ZG-Res-Key header nor a completion id"
        return VerificationResult(**base, verdict=Verdict.unavailable, detail=detail)
    problem = verifiability_problem(service)
    if problem is not None:
        return VerificationResult(**base, verdict=Verdict.not_verifiable, detail=problem)
    base["expected_signer"] = expected_signer(service)
    if base["expected_signer"] is None:
        detail = "the service names no valid signer address (teeSignerAddress / TargetTeeAddress)"
        return VerificationResult(**base, verdict=Verdict.not_verifiable, detail=detail)
    if fetch_error is not None:
        detail = f"the signature could not be fetched: {fetch_error}"
        return VerificationResult(**base, verdict=Verdict.unavailable, detail=detail)
    fields = _payload_fields(signature_payload)
    if fields is None:
        detail = "the signature response has no text and signature strings"
        return VerificationResult(**base, verdict=Verdict.unavailable, detail=detail)
    missing = _missing_images(service, images, images_problem)
    result = _judge_signature(base, *fields, (request_body, response_body, images), missing)
    return routing_checked(result, service)


def routing_checked(result: VerificationResult, service: ServiceInput) -> VerificationResult:
    """A verified answer of a TeeTLS provider must also carry a routing proof that matches the chain."""
    if result.verdict is not Verdict.verified or result.signed_text is None:
        return result
    problem = routing_proof.problem(result.signed_text, _additional_info(service)[0] or {})
    proof = routing_proof.parse(result.signed_text)
    if problem is None and proof is not None:
        note = f"; routing proof: {proof.provider_identity!r} over TLS, certificate {proof.tls_cert_fingerprint}"
        return result.model_copy(update={"detail": result.detail + note})
    if problem is None:
        return result
    detail = f"signed by the TEE signer {result.expected_signer}, but {problem}"
    return result.model_copy(update={"verdict": Verdict.routing_mismatch, "detail": detail})


# ---------------------------------------------------------------------------------------------------------
# attestation (client-protocol §11)


ReportSource = Literal["report_data", "signing_address", "provider_signer"]


class AttestationReport(BaseModel):
    """The signer check of a ``/v1/quote`` report (the TDX/GPU quote itself is not verified here)."""

    model_config = ConfigDict(frozen=True)

    expected_signer: str
    signer_in_report: str | None = None
    source: ReportSource | None = None
    matches: bool = False
    is_devnet_mock: bool = False
    note: str = ""


def _report_data_address(value: object) -> str | None:
    """``report_data`` as the SDK reads it: base64 → UTF-8 → NULs removed → an address (or None)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    candidate = decoded.replace("\0", "").strip()
    return candidate if _ADDRESS.fullmatch(candidate) else None


def _report_signer(report: Mapping[str, Any]) -> tuple[str | None, ReportSource | None]:
    from_data = _report_data_address(report.get("report_data"))
    if from_data is not None:
        return from_data, "report_data"
    signing_address = report.get("signing_address")
    if isinstance(signing_address, str) and _ADDRESS.fullmatch(signing_address.strip()):
        return signing_address.strip(), "signing_address"
    provider_signer = report.get("provider_signer")
    if isinstance(provider_signer, str) and _ADDRESS.fullmatch(provider_signer.strip()):
        return provider_signer.strip(), "provider_signer"
    return None, None


def check_attestation(report_text: str | bytes, *, tee_signer_address: str) -> AttestationReport:
    """Check that a ``/v1/quote`` report binds ``tee_signer_address``; never raises on provider garbage."""
    try:
        report = loads_json(report_text)
    except (ValueError, TypeError, RecursionError):
        return AttestationReport(expected_signer=tee_signer_address, note="the attestation report is not JSON")
    if not isinstance(report, dict):
        return AttestationReport(expected_signer=tee_signer_address, note="the attestation report is not a JSON object")
    devnet = report.get("devnet") is True
    signer, source = _report_signer(report)
    if signer is None:
        note = "the report names no signer (neither report_data nor signing_address holds an address)"
        return AttestationReport(expected_signer=tee_signer_address, is_devnet_mock=devnet, note=note)
    matches = signer.lower() == tee_signer_address.lower()
    verdict = "matches" if matches else "does not match"
    note = f"the report's {source} binds {signer}, which {verdict} the on-chain TEE signer {tee_signer_address}"
    note += (
        "; this is a devnet mock report, not backed by TEE hardware"
        if devnet
        else "; the hardware quote itself still needs a TEE verifier (e.g. dstack-verifier)"
    )
    return AttestationReport(
        expected_signer=tee_signer_address,
        signer_in_report=signer,
        source=source,
        matches=matches,
        is_devnet_mock=devnet,
        note=note,
    )
