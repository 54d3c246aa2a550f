"""Where verification may fetch from (pure rules): the provider's own origin, escaped chat ids."""

from __future__ import annotations

import pytest

from zerog_compute._origin import decode_data_url, on_origin, signature_url

PROVIDER = "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8001/v1/proxy/images/k/0", "http://127.0.0.1:8001/v1/proxy/images/k/0"),
        ("HTTP://127.0.0.1:8001/a?b=c#frag", "http://127.0.0.1:8001/a?b=c"),
        ("http://127.0.0.1:8002/a", None),
        ("https://127.0.0.1:8001/a", None),
        ("http://localhost:8001/a", None),
        ("http://127.0.0.1:8001@evil.example/a", None),
        ("http://evil.example@127.0.0.1:8001/a", None),
        ("http://127.0.0.1:8002\\@127.0.0.1:8001/a", None),
        ("http://127.0.0.1:8001/a b", None),
        ("http://169.254.169.254/latest/meta-data/", None),
        ("http://127.0.0.1:99999/a", None),
        ("file:///etc/passwd", None),
        ("ftp://127.0.0.1:8001/a", None),
    ],
)
def test_on_origin(url: str, expected: str | None) -> None:
    assert on_origin(url, PROVIDER) == expected


def test_default_ports_and_case_are_one_origin() -> None:
    assert on_origin("https://Provider.Example:443/img", "https://provider.example") == "https://provider.example/img"
    assert on_origin("http://provider.example/img", "https://provider.example") is None


@pytest.mark.parametrize(
    ("chat_id", "path"),
    [
        ("chatcmpl-abc_1.2~x", "chatcmpl-abc_1.2~x"),
        ("../../admin/faults?x=", "..%2F..%2Fadmin%2Ffaults%3Fx%3D"),
        ("a#b%c", "a%23b%25c"),
    ],
)
def test_signature_url_escapes_the_chat_id(chat_id: str, path: str) -> None:
    url = signature_url("http://p/v1/proxy", chat_id, "org/model x")
    assert url == f"http://p/v1/proxy/signature/{path}?model=org/model%20x"


@pytest.mark.parametrize("chat_id", ["", ".", "..", "x" * 257, "a b", "a\tb", "é", "a\x00"])
def test_absurd_chat_ids_are_refused(chat_id: str) -> None:
    assert signature_url("http://p/v1/proxy", chat_id, "m") is None


def test_data_urls() -> None:
    assert decode_data_url("data:image/png;base64,aGk=") == b"hi"
    assert decode_data_url("data:,a%20b") == b"a b"
    assert decode_data_url("data:image/png;base64,!!") is None
    assert decode_data_url("http://x/a,b") is None
