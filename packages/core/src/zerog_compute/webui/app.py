"""The Web UI's pages and endpoints (Starlette + Jinja2), behind :class:`~zerog_compute.webui.access.UIGuard`.

| route | what |
| --- | --- |
| ``GET /providers`` | the live catalog, probed in parallel |
| ``GET /account`` | wallet, ledger, sub-accounts; the move forms |
| ``POST /account/confirm`` | a move's confirmation: exactly what will move, and the balances after |
| ``POST /account/execute`` | starts the confirmed move; redirects to its job page |
| ``GET /account/jobs/{id}`` (+ ``/api/jobs/{id}``) | progress while the transaction confirms |
| ``GET /chat``, ``POST /api/chat`` | the chat page; one streamed turn (NDJSON) |
| ``GET /usage`` | the usage history (filtered, paged), spend per day and per provider |
| ``POST /usage/reconcile`` | the same page with the audit of the charges against the chain |
| ``GET /static/{name}`` | the stylesheet and the script |
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client import AsyncZeroG
from ..errors import ConfigurationError, ZeroGError
from ..untrusted_json import parse_json
from .access import CSRF_FIELD, CSRF_HEADER, JSON, UIAccess, UIGuard, parse_form
from .chat import ChatTargets, parse_turn
from .moves import Jobs, parse_move, plan
from .usage_page import PAGE_SIZES, audit_rows, parse_from_block, parse_query, usage_view
from .views import account_view, amount, providers_view

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class NavEntry:
    key: str
    title: str
    path: str
    enabled: bool = True


NAV = (
    NavEntry("providers", "Providers", "/providers"),
    NavEntry("account", "Account", "/account"),
    NavEntry("chat", "Chat", "/chat"),
    NavEntry("usage", "Usage", "/usage"),
)


def build_app(
    zg: AsyncZeroG, *, token: str, host: str = "127.0.0.1", port: int, allowed_hosts: Iterable[str] = ()
) -> Any:
    """The Web UI as an ASGI app around ``zg``: pages behind the token/cookie, Host, Origin and CSRF checks.

    ``host``/``port``: the bound address, which ``Host`` must name (or a loopback name, or one of ``allowed_hosts``).
    """
    try:
        import jinja2
        from starlette.applications import Starlette
        from starlette.routing import Route
    except ImportError:  # pragma: no cover - depends on the installed extra
        raise ConfigurationError("the Web UI needs its extra: pip install 'zerog-compute[ui]'") from None
    access = UIAccess.of(token, host=host, port=port, allowed_hosts=allowed_hosts)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    pages = _Pages(zg, env, access)
    app = Starlette(
        routes=[
            Route("/", pages.home),
            Route("/providers", pages.providers),
            Route("/account", pages.account),
            Route("/account/confirm", pages.confirm, methods=["POST"]),
            Route("/account/execute", pages.execute, methods=["POST"]),
            Route("/account/jobs/{job_id}", pages.job),
            Route("/api/jobs/{job_id}", pages.job_json),
            Route("/chat", pages.chat),
            Route("/api/chat", pages.chat_turn, methods=["POST"]),
            Route("/usage", pages.usage),
            Route("/usage/reconcile", pages.reconcile, methods=["POST"]),
            Route("/static/{name}", pages.static),
        ]
    )
    return UIGuard(app, access)


class _Pages:
    def __init__(self, zg: AsyncZeroG, env: Any, access: UIAccess) -> None:
        self.zg = zg
        self.env = env
        self.access = access
        self.jobs = Jobs(zg)
        self.targets = ChatTargets(zg)

    def render(self, name: str, page: str, status: int = 200, **context: Any) -> Any:
        from starlette.responses import HTMLResponse

        html = self.env.get_template(name).render(
            nav=[n for n in NAV if n.enabled],
            page=page,
            csrf=self.access.csrf,
            csrf_field=CSRF_FIELD,
            network=self.zg.network.name,
            address=self.zg.address,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def failure(self, page: str, error: BaseException, status: int = 502) -> Any:
        if not isinstance(error, ZeroGError):
            log.exception("page %s failed", page)
        message = str(error) if isinstance(error, ZeroGError) else f"unexpected error: {type(error).__name__}"
        return self.render("error.html", page, status=status, message=message)

    async def home(self, _request: Any) -> Any:
        from starlette.responses import RedirectResponse

        return RedirectResponse("/providers", status_code=303)

    async def static(self, request: Any) -> Any:
        from starlette.responses import PlainTextResponse, Response

        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name])

    async def providers(self, _request: Any) -> Any:
        try:
            rows = await providers_view(self.zg)
        except Exception as exc:
            return self.failure("providers", exc)
        types = sorted({r["service_type"] for r in rows})
        return self.render("providers.html", "providers", rows=rows, types=types)

    async def account(self, _request: Any) -> Any:
        try:
            view = await account_view(self.zg)
        except Exception as exc:
            return self.failure("account", exc)
        return self.render("account.html", "account", view=view, rows=view.rows(), amount=amount)

    async def _form(self, request: Any) -> dict[str, list[str]]:
        form = parse_form(await request.body())
        given = form.get(CSRF_FIELD) or []
        if len(given) != 1 or not self.access.csrf_matches(given[0]):
            raise _Forbidden
        return form

    async def confirm(self, request: Any) -> Any:
        try:
            form = await self._form(request)
        except _Forbidden:
            return self.render("error.html", "account", status=403, message=_CSRF_MESSAGE)
        try:
            move = parse_move(form)
            planned = await plan(self.zg, move)
        except Exception as exc:
            return self.failure("account", exc, status=400 if isinstance(exc, ConfigurationError) else 502)
        return self.render("confirm.html", "account", plan=planned, fields=planned.move.fields())

    async def execute(self, request: Any) -> Any:
        from starlette.responses import RedirectResponse

        try:
            form = await self._form(request)
        except _Forbidden:
            return self.render("error.html", "account", status=403, message=_CSRF_MESSAGE)
        try:
            planned = await plan(self.zg, parse_move(form))
        except Exception as exc:
            return self.failure("account", exc, status=400 if isinstance(exc, ConfigurationError) else 502)
        if planned.problem is not None:
            return self.render("confirm.html", "account", status=409, plan=planned, fields=planned.move.fields())
        job = self.jobs.start(planned)
        return RedirectResponse(f"/account/jobs/{job.id}", status_code=303)

    async def job(self, request: Any) -> Any:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return self.render("error.html", "account", status=404, message="no such transaction in this UI session")
        return self.render("job.html", "account", job=job, plan=job.plan)

    async def job_json(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return JSONResponse(job.summary())

    async def chat(self, _request: Any) -> Any:
        try:
            services = await self.zg.services.list(service_type="chatbot")
        except Exception as exc:
            return self.failure("chat", exc)
        models = sorted({s.model for s in services})
        pools = [(m, sum(1 for s in services if s.model == m)) for m in models]
        return self.render("chat.html", "chat", services=services, pools=pools)

    async def chat_turn(self, request: Any) -> Any:
        from starlette.responses import JSONResponse, StreamingResponse

        if not self.access.csrf_matches(request.headers.get(CSRF_HEADER)):
            return JSONResponse({"error": _CSRF_MESSAGE}, status_code=403)
        if request.headers.get("content-type", "").partition(";")[0].strip().lower() != JSON:
            return JSONResponse({"error": "send the chat turn as JSON"}, status_code=415)
        try:
            target, messages = parse_turn(parse_json(await request.body()))
        except (ValueError, ConfigurationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return StreamingResponse(self.targets.answer(target, messages), media_type="application/x-ndjson")

    async def usage(self, request: Any) -> Any:
        return await self._usage_page(request.query_params.multi_items())

    async def reconcile(self, request: Any) -> Any:
        try:
            form = await self._form(request)
        except _Forbidden:
            return self.render("error.html", "usage", status=403, message=_CSRF_MESSAGE)
        return await self._usage_page([(k, v) for k, values in form.items() for v in values], reconcile=True)

    async def _usage_page(self, pairs: list[tuple[str, str]], *, reconcile: bool = False) -> Any:
        params: dict[str, list[str]] = {}
        for name, value in pairs:
            params.setdefault(name, []).append(value)
        try:
            ledger = self.zg.usage.ledger.url
        except ConfigurationError as exc:
            return self.render("usage.html", "usage", off=str(exc), view=None, audit=None)
        try:
            query = parse_query(params)
            from_block = parse_from_block(params)
        except ConfigurationError as exc:
            return self.failure("usage", exc, status=400)
        try:
            view = usage_view(await self.zg.usage.records(), query)
        except Exception as exc:
            return self.failure("usage", exc)
        audit: dict[str, Any] | None = None
        if reconcile:
            try:
                result = await self.zg.usage.reconcile(from_block=from_block)
                audit = {"result": result, "rows": audit_rows(result), "error": None}
            except Exception as exc:
                if not isinstance(exc, ZeroGError):
                    log.exception("reconciliation failed")
                message = str(exc) if isinstance(exc, ZeroGError) else f"unexpected error: {type(exc).__name__}"
                audit = {"result": None, "rows": [], "error": message}
        return self.render(
            "usage.html",
            "usage",
            off=None,
            view=view,
            audit=audit,
            ledger=ledger,
            from_block=from_block,
            sizes=PAGE_SIZES,
        )


class _Forbidden(Exception):
    """A POST without this UI's CSRF token."""


_CSRF_MESSAGE = "this form is not from this UI session (CSRF token missing or stale): reload the page"


def serve(zg: AsyncZeroG, *, host: str, port: int, token: str, allowed_hosts: Iterable[str] = ()) -> None:
    """Run the UI in the foreground until interrupted."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the installed extra
        raise ConfigurationError("the Web UI needs its extra: pip install 'zerog-compute[ui]'") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the zerog UI spends your wallet's funds: it is listening on %s, not only on loopback", host)
    app = build_app(zg, token=token, host=host, port=port, allowed_hosts=allowed_hosts)
    uvicorn.run(app, host=host, port=port, log_level="warning")
