"""Async image jobs through the Router: submit, poll with bounded backoff, and the finished images' record.

``POST /v1/async/images/generations`` queues a generation (the docs' recommended path for production
image generation) and ``GET /v1/async/jobs/{id}?provider_address=…`` reads it; verification is asked on
the poll (``&verify_tee=true``). The shapes of the job objects are not documented beyond that, so they
are read leniently: the id is ``id`` or ``job_id``, the serving provider ``provider_address``, ``provider``
or ``x_0g_trace.provider``, the images ``data`` at the top level or under ``result``.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict

from .._io import Flow, Http, Sleep, loads_json
from ..backend import Call
from ..errors import DeadlineExceededError, ProviderError, ProviderUnavailableError
from ..http_errors import redact_router, router_error
from ..types import ImagesResponse
from .backend import RouterRequest, exchange, prepare
from .config import RouterState
from .listings import unreachable
from .records import record_for, settle

SUBMIT_ROUTE = "/async/images/generations"
DONE = frozenset({"succeeded", "success", "completed", "complete", "done", "finished"})
FAILED = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled", "expired"})
FIRST_POLL_S = 0.5
MAX_POLL_S = 10.0
BACKOFF = 1.5
DEFAULT_WAIT_S = 600.0


class ImageJob(BaseModel):
    """A queued Router image job: pass it to ``zg.images.jobs.get`` / ``wait`` (unknown fields are kept)."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: str = "queued"
    model: str
    provider: str | None = None
    """The provider serving the job (the poll names it as ``provider_address``)."""

    @property
    def done(self) -> bool:
        return self.status.lower() in DONE

    @property
    def failed(self) -> bool:
        return self.status.lower() in FAILED


def _job_from(data: dict[str, Any], model: str, provider: str | None) -> ImageJob:
    raw = data.get("x_0g_trace")
    trace: dict[str, Any] = raw if isinstance(raw, dict) else {}
    job_id = data.get("id") or data.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise ProviderError("the 0G Router accepted the image job but sent no job id", status_code=200)
    named = data.get("provider_address") or data.get("provider") or trace.get("provider") or provider
    fields = {k: v for k, v in data.items() if k not in ("id", "job_id", "status", "model", "provider")}
    status = data.get("status")
    return ImageJob(
        id=job_id,
        status=status if isinstance(status, str) else "queued",
        model=str(data.get("model") or model),
        provider=named if isinstance(named, str) else None,
        **fields,
    )


def submit(state: RouterState, call: Call) -> Flow[ImageJob]:
    """Queue an image generation (``b64_json``; ``verify_tee`` is asked on the poll, not here)."""
    submit_call = Call(
        "/images/generations", call.payload, model=call.model, provider=call.provider, pool=call.pool, files=None
    )
    request = yield from prepare(state, submit_call)
    body = loads_json(request.body)
    body.pop("verify_tee", None)
    request.body = payload_bytes(body)
    request.url = state.url + SUBMIT_ROUTE
    result = yield from exchange(state, request, stream=False)
    data = _json_object(result.content, SUBMIT_ROUTE)
    return _job_from(data, request.model, request.pinned)


def payload_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _json_object(content: bytes, route: str) -> dict[str, Any]:
    try:
        data = loads_json(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"the 0G Router sent a body that is not a JSON object for {route}", status_code=200)
    return data


def poll_url(state: RouterState, job: ImageJob) -> str:
    params = {"provider_address": job.provider} if job.provider else {}
    if state.verification != "off":
        params["verify_tee"] = "true"
    query = f"?{urlencode(params)}" if params else ""
    return f"{state.url}/async/jobs/{quote(job.id, safe='')}{query}"


def poll(state: RouterState, job: ImageJob) -> Flow[tuple[ImageJob, dict[str, Any], Any]]:
    """One ``GET /v1/async/jobs/{id}``: the job as it stands, its JSON and the answer's headers."""
    try:
        headers = {**state.auth(), "Accept": "application/json"}
        result = yield Http("GET", poll_url(state, job), headers, None, state.timeout)
    except ProviderUnavailableError as exc:
        raise unreachable(state, exc) from None
    if result.status != 200:
        raise router_error(result.status, result.content, result.headers, provider=job.provider, network=state.network)
    data = _json_object(result.content, "/async/jobs")
    return _job_from(data, job.model, job.provider), data, result.headers


def get(state: RouterState, job: ImageJob) -> Flow[ImageJob]:
    """The job's current status."""
    current, _, _ = yield from poll(state, job)
    return current


def images_of(data: dict[str, Any]) -> dict[str, Any]:
    """The images response inside a finished job (top level, or under ``result``)."""
    inner = data.get("result")
    if isinstance(inner, dict) and "data" in inner:
        return {**inner, "x_0g_trace": data.get("x_0g_trace", inner.get("x_0g_trace"))}
    return data


def wait(state: RouterState, job: ImageJob, *, timeout: float = DEFAULT_WAIT_S) -> Flow[ImagesResponse]:
    """Poll until the job is done (backoff 0.5 s × 1.5 up to 10 s, at most ``timeout`` s), then its images.

    The result carries the usual record: fee = the billed total of the finished job, the Router's verdict
    (``verify_tee`` on the poll), applied per the verification policy.
    """
    started = time.perf_counter()
    delay = FIRST_POLL_S
    while True:
        current, data, headers = yield from poll(state, job)
        if current.done:
            break
        if current.failed:
            why = _reason(data)
            raise ProviderError(f"the 0G Router's image job {job.id} {current.status}: {why}", status_code=200)
        left = timeout - (time.perf_counter() - started)
        if left <= 0:
            raise DeadlineExceededError(
                f"the 0G Router's image job {job.id} is still {current.status!r} after {timeout:g} s: call "
                "zg.images.jobs.wait(job) again later, or pass a longer timeout=",
                deadline=timeout,
            )
        yield Sleep(min(delay, left))
        delay = min(delay * BACKOFF, MAX_POLL_S)
    answer = images_of(data)
    request = RouterRequest(
        "/images/generations",
        poll_url(state, job),
        {},
        b"",
        current.model,
        "text-to-image",
        state.verification != "off",
        current.provider,
    )
    request.started = started
    record = yield from record_for(state, request, headers, answer)
    settle(state, record)
    answer.pop("x_0g_trace", None)
    result = ImagesResponse.model_validate({k: v for k, v in answer.items() if k != "zerog"})
    result.zerog = record
    return result


def _reason(data: dict[str, Any]) -> str:
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    return redact_router(str(message or "no reason given"))[:300]
