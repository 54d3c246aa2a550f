"""The emulator's account and async-job routes, built on :mod:`zerog_devnet.router`.

Account (``mk-`` keys): ``/v1/account/balance`` (the Router ledger: ``address``, ``deposit_balance``,
``credit_balance``, ``total_balance`` as neuron strings), ``/v1/account/funds`` (``total`` = deposit + credit
− pending charge + vault balance, with a ``breakdown``; negative when the account owes), and
``/v1/account/usage/stats`` / ``/usage/history`` (filters ``start_date``, ``end_date`` as ``YYYY-MM-DD``,
``api_key_id``, ``source``).

Async images (``sk-`` keys): ``POST /v1/async/images/generations`` queues a generation on one provider and
answers at once with the job (``id``, ``status``, ``provider_address``); ``GET /v1/async/jobs/{id}?
provider_address=…[&verify_tee=true]`` reports ``queued``/``running``, then ``succeeded`` with ``data`` (the
``b64_json`` images) and ``x_0g_trace`` (billing; ``tee_verified`` when asked on the poll), or ``failed`` with
``error``. The job objects' shapes beyond that are not documented; these are the emulator's choice.

``POST /v1/messages`` (Anthropic format) is translated to a chat request for the chat providers and the answer
back to an Anthropic message, with the trace.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .router import (
    RouterRuntime,
    _admit,
    _authenticate,
    _Call,
    _error_response,
    _forward,
    admit_inference,
)
from .router_requests import RouterError, Spec
from .router_state import ImageJobState, RouterKey
from .router_verify import verify_answer

_TASKS: set[asyncio.Task[None]] = set()


# ---------------------------------------------------------------------------------------------------------
# account


def balance(_rt: RouterRuntime, _request: Request, key: RouterKey | None) -> dict[str, Any]:
    assert key is not None
    held = max(key.account.balance, 0)
    return {
        "address": key.account.address,
        "deposit_balance": str(held),
        "credit_balance": "0",
        "total_balance": str(held),
    }


def funds(_rt: RouterRuntime, _request: Request, key: RouterKey | None) -> dict[str, Any]:
    assert key is not None
    held, pending = max(key.account.balance, 0), max(-key.account.balance, 0)
    return {
        "address": key.account.address,
        "total": str(held - pending),
        "breakdown": {
            "deposit_balance": str(held),
            "credit_balance": "0",
            "pending_charge": str(pending),
            "vault_balance": "0",
            "vault_ratio": "0",
        },
    }


def _day(value: str | None, name: str) -> float | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise RouterError(400, "invalid_body", f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def _rows(request: Request, key: RouterKey) -> list[dict[str, Any]]:
    """The account's billed requests matching the filters, newest first."""
    query = request.query_params
    start, end = _day(query.get("start_date"), "start_date"), _day(query.get("end_date"), "end_date")
    rows = []
    for row in reversed(key.account.usage):
        created = float(row.get("created_at") or 0)
        if (start is not None and created < start) or (end is not None and created >= end + 86400):
            continue
        if query.get("api_key_id") and row.get("api_key_id") != query["api_key_id"]:
            continue
        if query.get("source") and row.get("source") != query["source"]:
            continue
        rows.append(row)
    return rows


def usage_stats(_rt: RouterRuntime, request: Request, key: RouterKey | None) -> dict[str, Any]:
    assert key is not None
    rows = _rows(request, key)
    usages = [row["usage"] for row in rows if isinstance(row.get("usage"), dict)]
    prompt = sum(int(u.get("prompt_tokens") or 0) for u in usages)
    completion = sum(int(u.get("completion_tokens") or 0) for u in usages)
    return {
        "total_requests": len(rows),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "total_cost": str(sum(int(row.get("cost") or 0) for row in rows)),
    }


def usage_history(_rt: RouterRuntime, request: Request, key: RouterKey | None) -> dict[str, Any]:
    assert key is not None
    try:
        limit = int(request.query_params.get("limit") or 50)
        offset = int(request.query_params.get("offset") or 0)
    except ValueError:
        raise RouterError(400, "invalid_body", "limit and offset must be integers") from None
    rows = _rows(request, key)
    return {"object": "list", "data": rows[offset : offset + limit], "total": len(rows)}


# ---------------------------------------------------------------------------------------------------------
# async image jobs


def _job_body(job: ImageJobState, trace: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": job.id,
        "object": "image.generation.job",
        "status": job.status,
        "model": job.model,
        "provider_address": job.provider,
        "created": job.created,
        "x_0g_trace": trace,
    }


def _pending_trace(job: ImageJobState) -> dict[str, Any]:
    nothing = {"input_cost": "0", "output_cost": "0", "total_cost": "0"}
    return {"request_id": job.request_id, "provider": job.provider, "billing": nothing}


async def _run_job(rt: RouterRuntime, key: RouterKey, call: _Call, spec: Spec, job: ImageJobState) -> None:
    rt.jobs.update(job.id, status="running")
    provider = next(p for p in rt.providers if p.address == job.provider)
    try:
        response = await _forward(rt, key, call, spec, [provider])
    except RouterError as error:
        response = _error_response(error, call)
    status = "succeeded" if response.status_code == 200 else "failed"
    rt.jobs.update(job.id, status=status, body=bytes(response.body), res_key=response.headers.get("zg-res-key"))


def submit_endpoint(rt: RouterRuntime) -> Any:
    async def endpoint(request: Request) -> Response:
        call = _Call()
        try:
            key, spec, order = await admit_inference(rt, request, "/images/generations", call)
            if not order:
                raise RouterError(503, "no_available_provider", f"no provider available for {spec.model!r}")
            spec.verify = False  # asked on the poll
            job = ImageJobState(
                f"job-{uuid.uuid4().hex}",
                spec.model,
                order[0].address,
                key.account.address,
                int(time.time()),
                call.request_id,
                spec=spec,
            )
            rt.jobs.add(job)
            task = asyncio.get_running_loop().create_task(_run_job(rt, key, call, spec, job))
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)
            return JSONResponse(_job_body(job, _pending_trace(job)), headers=call.all_headers())
        except RouterError as error:
            return _error_response(error, call)

    return endpoint


def poll_endpoint(rt: RouterRuntime) -> Any:
    async def endpoint(request: Request) -> Response:
        call = _Call()
        try:
            key = _authenticate(request, _admit(rt, request, call), "sk")
            job_id = request.path_params["job_id"]
            job = rt.jobs.get(job_id)
            if job is None or job.account != key.account.address:
                raise RouterError(404, "job_not_found", f"no async job {job_id!r} for this account")
            address = request.query_params.get("provider_address")
            if not address:
                raise RouterError(400, "invalid_body", "provider_address is required (from the submitted job)")
            if address.lower() != job.provider.lower():
                raise RouterError(404, "job_not_found", f"no async job {job_id!r} at provider {address}")
            verify = request.query_params.get("verify_tee", "").lower() == "true"
            body = await _finished(rt, job, verify) if job.status in ("succeeded", "failed") else None
            return JSONResponse(body or _job_body(job, _pending_trace(job)), headers=call.all_headers())
        except RouterError as error:
            return _error_response(error, call)

    return endpoint


async def _finished(rt: RouterRuntime, job: ImageJobState, verify: bool) -> dict[str, Any]:
    data = json.loads(job.body or b"{}")
    if job.status == "failed":
        return {**_job_body(job, _pending_trace(job)), "error": data.get("error")}
    trace = data.pop("x_0g_trace", None) or _pending_trace(job)
    if verify:
        provider = next(p for p in rt.providers if p.address == job.provider)
        verdict = await verify_answer(rt, provider, job.res_key, job.spec, job.body or b"", data)
        trace["tee_verified"], trace["detail"] = verdict
    return {**_job_body(job, trace), **{k: v for k, v in data.items() if k in ("created", "data")}}


# ---------------------------------------------------------------------------------------------------------
# /v1/messages (Anthropic format), served by the chat providers


def _openai_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI chat request for an Anthropic one (text blocks joined; ``system`` first)."""
    if not isinstance(body.get("messages"), list) or not isinstance(body.get("max_tokens"), int):
        raise RouterError(400, "invalid_body", "`messages` (a list) and `max_tokens` (an integer) are required")
    messages: list[dict[str, Any]] = [{"role": "system", "content": str(body["system"])}] if body.get("system") else []
    for message in body["messages"]:
        if not isinstance(message, dict):
            raise RouterError(400, "invalid_body", "every message must be an object with role and content")
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(str(b.get("text") or "") for b in content if isinstance(b, dict))
        messages.append({"role": message.get("role", "user"), "content": content})
    chat = {k: v for k, v in body.items() if k not in ("messages", "system", "max_tokens")}
    return {**chat, "messages": messages, "max_tokens": body["max_tokens"]}


def _anthropic(data: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic answer for an OpenAI chat completion (the trace kept as is)."""
    choice = (data.get("choices") or [{}])[0]
    raw = data.get("usage")
    usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    stop = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}.get(choice.get("finish_reason"))
    answer = {
        "id": f"msg_{data.get('id', '')}",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": str((choice.get("message") or {}).get("content") or "")}],
        "model": data.get("model", ""),
        "stop_reason": stop,
        "usage": {"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0)},
    }
    if "x_0g_trace" in data:
        answer["x_0g_trace"] = data["x_0g_trace"]
    return answer


def messages_endpoint(rt: RouterRuntime) -> Any:
    async def endpoint(request: Request) -> Response:
        call = _Call()
        try:
            try:
                body = json.loads(await request.body())
            except ValueError:
                raise RouterError(400, "invalid_body", "the request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise RouterError(400, "invalid_body", "the request body must be a JSON object")
            chat = json.dumps(_openai_chat(body)).encode()
            key, spec, order = await admit_inference(rt, request, "/chat/completions", call, body=chat)
            response = await _forward(rt, key, call, spec, order)
            if response.status_code != 200:
                return response
            answer = _anthropic(json.loads(bytes(response.body)))
            headers = {k: v for k, v in response.headers.items() if k.lower() in ("zg-res-key",) or "ratelimit" in k}
            return JSONResponse(answer, headers=headers)
        except RouterError as error:
            return _error_response(error, call)

    return endpoint
