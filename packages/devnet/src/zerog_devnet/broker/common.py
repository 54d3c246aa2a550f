"""Small pieces shared by the request pipeline and the response builders."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse, Response


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A broker error body ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Rejected(Exception):
    """Ends the pipeline with a ready response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class Billed:
    """What the pipeline knows about one admitted request."""

    route: str
    user: str
    body: bytes
    headers: dict[str, str]
    chat_id: str
    n_images: int = 1
    wants_url: bool = False
    """Images: the client asked for ``response_format=url``; upstream was asked for b64_json."""
    tls_fingerprint: str | None = None
    """The upstream connection's certificate fingerprint (TeeTLS providers sign it in the routing proof)."""
