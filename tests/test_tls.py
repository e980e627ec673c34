"""certificate_expiry against real TLS servers on 127.0.0.1 with trustme certificates."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from aide_testing import serve

from conftest import HANG_S, free_port
from pytest_aide.errors import ProbeError
from pytest_aide.probes.tls import certificate_expiry, certificate_from_url

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Aide Test CA")


@pytest.fixture
def cafile(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def tls_handler(ca: trustme.CA, **issue: datetime) -> Callable[[socket.socket], None]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", common_name="aide.test", **issue).configure_cert(context)

    def handle(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)  # until the client hangs up
        except OSError:  # the client refused our certificate, or hung up mid-handshake
            pass

    return handle


@pytest.fixture
def valid_port(ca: trustme.CA) -> Iterator[int]:
    yield from serve(tls_handler(ca, not_after=NOW + timedelta(days=30)))


@pytest.fixture
def expiring_port(ca: trustme.CA) -> Iterator[int]:
    yield from serve(tls_handler(ca, not_after=NOW + timedelta(days=3)))


@pytest.fixture
def expired_port(ca: trustme.CA) -> Iterator[int]:
    yield from serve(tls_handler(ca, not_before=NOW - timedelta(days=60), not_after=NOW - timedelta(days=2)))


def test_valid_certificate_with_its_ca_verifies(valid_port: int, cafile: str) -> None:
    cert = certificate_expiry("127.0.0.1", valid_port, cafile=cafile, timeout=5)
    assert cert.verified
    assert cert.verify_error is None
    assert 29.9 < cert.days_left <= 30.0
    assert cert.not_after.tzinfo is not None
    assert cert.not_after.utcoffset() == timedelta(0)
    assert "CN=aide.test" in cert.subject
    assert "O=Aide Test CA" in cert.issuer
    assert (cert.host, cert.port) == ("127.0.0.1", valid_port)
    as_dict = cert.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert datetime.fromisoformat(as_dict["not_after"]) == cert.not_after


def test_certificate_is_read_even_when_the_default_store_rejects_it(valid_port: int) -> None:
    cert = certificate_expiry("127.0.0.1", valid_port)
    assert not cert.verified
    assert cert.verify_error is not None
    assert "issuer" in cert.verify_error
    assert 29.9 < cert.days_left <= 30.0


def test_certificate_expiring_in_three_days(expiring_port: int, cafile: str) -> None:
    cert = certificate_expiry("localhost", expiring_port, cafile=cafile)
    assert cert.verified
    assert 2.9 < cert.days_left <= 3.0
    one_day_before = certificate_expiry("localhost", expiring_port, now=cert.not_after - timedelta(days=1))
    assert one_day_before.days_left == 1.0


def test_expired_certificate_has_negative_days_left(expired_port: int, cafile: str) -> None:
    cert = certificate_expiry("127.0.0.1", expired_port, cafile=cafile)
    assert not cert.verified
    assert cert.verify_error == "certificate has expired"
    assert -2.1 < cert.days_left < -1.9


def test_hostname_mismatch_does_not_verify(valid_port: int, cafile: str) -> None:
    cert = certificate_expiry("127.0.0.1", valid_port, server_name="other.example", cafile=cafile)
    assert not cert.verified
    assert cert.verify_error is not None
    assert "other.example" in cert.verify_error


def test_url_helper(valid_port: int, cafile: str) -> None:
    cert = certificate_from_url(f"https://localhost:{valid_port}/api/health", cafile=cafile)
    assert cert.verified
    assert cert.port == valid_port
    with pytest.raises(ProbeError, match=r"not an https URL: http://ops:\*\*\*@example.com/"):
        certificate_from_url("http://ops:pw@example.com/")


def test_server_that_never_speaks_tls_times_out_within_bound(silent_port: int) -> None:
    began = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        certificate_expiry("127.0.0.1", silent_port, timeout=0.5)
    assert str(caught.value) == f"TLS probe of 127.0.0.1:{silent_port}: timed out after 0.5 s"
    assert time.monotonic() - began < HANG_S  # the server never speaks


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    def handle(conn: socket.socket) -> None:
        try:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            pass

    yield from serve(handle)


def test_plain_http_server_is_not_tls(plain_http_port: int) -> None:
    with pytest.raises(ProbeError, match=r"TLS handshake failed \(.+\); is this a TLS port\?"):
        certificate_expiry("127.0.0.1", plain_http_port, timeout=2)


def test_refused_port() -> None:
    port = free_port()
    with pytest.raises(ProbeError, match=rf"^TLS probe of 127.0.0.1:{port}: connection refused$"):
        certificate_expiry("127.0.0.1", port)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        certificate_expiry("127.0.0.1", 1, now=datetime(2030, 1, 1))
