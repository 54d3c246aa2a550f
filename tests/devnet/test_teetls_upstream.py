"""The devnet's TeeTLS pieces: the certificate made at start, the HTTPS upstream and what the broker reads from it."""

from __future__ import annotations

import hashlib
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from zerog_devnet import ConfigError, ProviderSpec
from zerog_devnet.broker import teetls
from zerog_devnet.broker.upstream import ScriptedUpstream
from zerog_devnet.server import ProviderHost, bind


def test_the_certificate_names_loopback_and_its_fingerprint_is_the_der_sha256() -> None:
    identity = teetls.make_certificate()
    cert = x509.load_pem_x509_certificate(identity.cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert identity.fingerprint == hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    assert teetls.make_certificate().fingerprint != identity.fingerprint  # a new one each start
    assert "BEGIN" not in repr(identity)


def test_the_broker_reads_the_fingerprint_of_the_certificate_on_the_connection() -> None:
    host = ProviderHost()
    tls = teetls.TlsUpstream(ScriptedUpstream("m"), bind(0))
    try:
        host.call(tls.start())
        body = b'{"model":"m","messages":[{"role":"user","content":"What is 2 + 3?"}]}'
        answer = host.call(tls.send("POST", "/chat/completions", {"content-type": "application/json"}, body))
        assert answer.status == 200 and b"5" in host.call(answer.read())
        assert answer.tls_fingerprint == tls.identity.fingerprint
        pem = ssl.get_server_certificate(("127.0.0.1", tls.port))
        assert hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest() == tls.identity.fingerprint
    finally:
        host.call(tls.aclose())
        host.close()


def test_a_teetls_image_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="tee_tls"):
        ProviderSpec("x", "text-to-image", tee_tls=True).validate()
