"""Verification fetches only from the provider's own origin: no SSRF through image URLs, chat ids or redirects.

A canary HTTP server on loopback (another port: another origin) records every request it gets; the hostile
provider points image URLs and redirects at it and sends chat ids that try to climb out of the signature path.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from zerog_compute import Verdict, VerificationError, ZeroG

from .conftest import Hostile
from .hostile import CHAT, IMAGES, SIGNATURE, completion, honest, redirect, signed

PNG = b"\x89PNG\r\n\x1a\n-hostile-image"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Canary:
    """A loopback server that records every request (it must get none)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    yield server
    server.close()


@pytest.fixture
def images(devnet: Any, hostile: Hostile) -> Hostile:
    """The hostile provider re-registered as a text-to-image service, signing ``req:sha256(PNG)``."""
    devnet.register_external("hostile", hostile.server.url, service_type="text-to-image", model=hostile.model)
    image_text = f"{{}}:{sha(PNG)}"
    hostile.server.script(
        SIGNATURE, signed(hostile.server, hostile.tee_key, lambda r: image_text.format(sha(r)), prefix=IMAGES)
    )
    return hostile


def answer_with_url(hostile: Hostile, url: str) -> None:
    body = json.dumps({"created": 0, "data": [{"url": url}]}).encode()
    hostile.server.script(IMAGES, honest(body, **{"ZG-Res-Key": "img-1"}))


def generate(hostile: Hostile, verification: str = "warn", **options: Any) -> Any:
    with ZeroG(private_key=hostile.private_key, network=hostile.network, verification=verification, **options) as zg:
        record = zg.images.generate(prompt="a cat", provider=hostile.address, response_format="url").zerog
        assert record is not None
        return record.verdict(timeout=60)


def foreign_urls(hostile: Hostile, canary: Canary) -> dict[str, str]:
    own = urlsplit(hostile.server.url)
    return {
        "loopback admin page": f"{canary.url}/admin/faults",
        "localhost spelling": f"http://localhost:{canary.port}/admin",
        "provider as user info": f"http://{own.netloc}@127.0.0.1:{canary.port}/x",
        "backslash trick": f"http://127.0.0.1:{canary.port}\\@{own.netloc}/x",
        "other scheme, same host and port": f"https://{own.netloc}/files/a.png",
        "link-local metadata": "http://169.254.169.254/latest/meta-data/",
        "private address": "http://10.0.0.1/admin",
    }


@pytest.mark.parametrize(
    "case",
    [
        "loopback admin page",
        "localhost spelling",
        "provider as user info",
        "backslash trick",
        "other scheme, same host and port",
        "link-local metadata",
        "private address",
    ],
)
def test_image_urls_off_the_providers_origin_are_never_fetched(images: Hostile, canary: Canary, case: str) -> None:
    answer_with_url(images, foreign_urls(images, canary)[case])
    result = generate(images)
    assert canary.requests == []
    assert result.verdict is Verdict.signed_unbound, result
    assert result.request_bound is True and result.response_bound is None
    assert "not on the provider's origin" in result.detail and "not fetched" in result.detail


def test_an_off_origin_image_is_refused_under_enforce(images: Hostile, canary: Canary) -> None:
    answer_with_url(images, f"{canary.url}/admin/faults")
    with pytest.raises(VerificationError, match="signed_unbound"):
        generate(images, verification="enforce")
    assert canary.requests == []


def test_an_image_on_the_providers_origin_is_fetched_and_verified(images: Hostile, canary: Canary) -> None:
    answer_with_url(images, images.server.url + "/files/a.png")
    images.server.script("/files/", honest(PNG, content_type="image/png"))
    result = generate(images, verification="enforce")
    assert result.verdict is Verdict.verified and result.content_bound is True
    assert "/files/a.png" in images.server.requests and canary.requests == []


def test_redirects_off_the_origin_are_not_followed(images: Hostile, canary: Canary) -> None:
    answer_with_url(images, images.server.url + "/files/a.png")
    images.server.script("/files/", redirect(f"{canary.url}/admin/faults"))
    with httpx.Client(follow_redirects=True) as follows:  # even a client built to follow them
        result = generate(images, http_client=follows)
    assert canary.requests == []
    assert result.verdict is Verdict.signed_unbound and "HTTP 302" in result.detail


def test_too_many_images_are_not_fetched(images: Hostile) -> None:
    body = json.dumps({"data": [{"url": f"{images.server.url}/files/{i}.png"} for i in range(1000)]}).encode()
    images.server.script(IMAGES, honest(body, **{"ZG-Res-Key": "img-1"}))
    result = generate(images)
    assert not any(path.startswith("/files/") for path in images.server.requests)
    assert result.verdict is Verdict.signed_unbound and "1000 images" in result.detail


# ------------------------------------------------------------------ chat ids


def chat_with_key(hostile: Hostile, key: str) -> Any:
    hostile.server.script(CHAT, honest(completion(), **{"ZG-Res-Key": key}))
    with ZeroG(private_key=hostile.private_key, network=hostile.network) as zg:
        ask = [{"role": "user", "content": "hi"}]
        record = zg.chat.completions.create(messages=ask, provider=hostile.address).zerog
        assert record is not None and record.chat_id == key
        return record.verdict(timeout=60)


def test_a_chat_id_cannot_leave_the_signature_path(hostile: Hostile) -> None:
    chat_with_key(hostile, "../../admin/faults?x=")
    fetched = [path for path in hostile.server.requests if path.startswith(SIGNATURE)]
    assert fetched and all(path.startswith(SIGNATURE + "..%2F..%2Fadmin%2Ffaults%3Fx%3D?model=") for path in fetched)
    assert not any("/admin" in path.split("?")[0] for path in hostile.server.requests)


@pytest.mark.parametrize("key", ["..", ".", "x" * 300])
def test_an_absurd_chat_id_is_refused_unsent(hostile: Hostile, key: str) -> None:
    result = chat_with_key(hostile, key)
    assert not any(path.startswith(SIGNATURE) for path in hostile.server.requests)
    assert result.verdict is Verdict.unavailable and "not a plausible chat id" in result.detail
