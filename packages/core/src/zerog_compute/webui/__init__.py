"""``zerog ui``: a local Web UI for the wallet — providers, account and fund moves, chat, usage and its audit.

Server-rendered pages (Starlette + Jinja2, templates and static files shipped in this package) with a little
JavaScript, behind the same protections as ``zerog proxy``: a random token in the URL printed once (it becomes
a session cookie), ``Host`` and ``Origin`` checks, a CSRF token on every POST, bounded bodies, loopback only by
default. Needs the ``ui`` extra: ``pip install 'zerog-compute[cli,ui]'``.

* :mod:`.access` — the token, the session cookie, Host/Origin/CSRF checks (an ASGI middleware);
* :mod:`.views` — what the Providers and Account pages show, read live;
* :mod:`.moves` — fund moves: form → plan (the confirmation) → background job;
* :mod:`.chat` — one streamed chat turn as JSON lines;
* :mod:`.usage_page` — the Usage page: filtered, paged history, charts, the reconciliation's table;
* :mod:`.charts` — bar charts drawn by the server as SVG;
* :mod:`.app` — the routes and :func:`~zerog_compute.webui.app.serve`.
"""

from __future__ import annotations

from .app import NAV, build_app, serve

__all__ = ["NAV", "build_app", "serve"]
