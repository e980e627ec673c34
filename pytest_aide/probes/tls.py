"""TLS certificate expiry of a server, read even when the certificate does not verify.

An expired or self-signed certificate is exactly what an operator must see, so a failed verification does
not stop the probe: the handshake is tried with verification first (that is how ``verified`` is learned, in
one round trip for a healthy server) and, when verification fails, again without it; ``cryptography``
parses the DER either way.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from pytest_aide.errors import ProbeError
from pytest_aide.redact import redact_url

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class TlsCertificate:
    """The leaf certificate a server presents; ``verify_error`` says why ``verified`` is False."""

    host: str
    port: int
    subject: str
    issuer: str
    not_after: datetime
    days_left: float
    verified: bool
    verify_error: str | None

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only: ``not_after`` becomes an ISO 8601 string."""
        return {**asdict(self), "not_after": self.not_after.isoformat()}


def certificate_expiry(
    host: str,
    port: int = 443,
    *,
    timeout: float = 5.0,
    server_name: str | None = None,
    now: datetime | None = None,
    cafile: str | None = None,
) -> TlsCertificate:
    """Read the certificate of ``host:port`` and count the days until it expires.

    ``server_name`` is sent as SNI and checked against the certificate (default: ``host``). ``timeout``
    bounds the whole probe, both handshakes included. ``cafile`` replaces the default trust store for the
    ``verified`` verdict. Raises ProbeError when no certificate can be read (refused, timeout, not TLS).
    """
    current = _aware_now(now)
    name = server_name or host
    where = f"TLS probe of {host}:{port}"
    deadline = time.monotonic() + timeout
    try:
        der, verify_error = _fetch_der(host, port, name, deadline, cafile)
    except TimeoutError:
        raise ProbeError(f"{where}: timed out after {timeout} s") from None
    except ConnectionRefusedError:
        raise ProbeError(f"{where}: connection refused") from None
    except socket.gaierror:
        raise ProbeError(f"{where}: cannot resolve host {host}") from None
    except ssl.SSLError as exc:
        raise ProbeError(f"{where}: TLS handshake failed ({exc.reason or exc}); is this a TLS port?") from None
    except OSError as exc:
        raise ProbeError(f"{where}: {exc.strerror or exc}") from None
    return _describe(der, host, port, current, verify_error, where)


def certificate_from_url(
    url: str, *, timeout: float = 5.0, now: datetime | None = None, cafile: str | None = None
) -> TlsCertificate:
    """:func:`certificate_expiry` for the host and port of an ``https://`` URL."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ProbeError(f"not an https URL: {redact_url(url)}")
    try:
        port = parts.port or 443
    except ValueError:
        raise ProbeError(f"bad port in URL: {redact_url(url)}") from None
    return certificate_expiry(parts.hostname, port, timeout=timeout, server_name=parts.hostname, now=now, cafile=cafile)


def _aware_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (a naive time would shift days_left by the UTC offset)")
    return now


def _fetch_der(host: str, port: int, name: str, deadline: float, cafile: str | None) -> tuple[bytes, str | None]:
    """The peer's DER certificate and, when it did not verify, why."""
    try:
        return _peer_der(host, port, name, ssl.create_default_context(cafile=cafile), deadline), None
    except ssl.SSLCertVerificationError as exc:
        reason = str(exc.verify_message or exc.reason or exc)
    return _peer_der(host, port, name, _unverified_context(), deadline), reason


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we only read the certificate; nothing is sent over this link
    return context


def _peer_der(host: str, port: int, name: str, context: ssl.SSLContext, deadline: float) -> bytes:
    with socket.create_connection((host, port), timeout=_remaining(deadline)) as raw:
        raw.settimeout(_remaining(deadline))
        with context.wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return der


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _describe(der: bytes, host: str, port: int, now: datetime, verify_error: str | None, where: str) -> TlsCertificate:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise ProbeError(f"{where}: cannot parse the certificate ({exc})") from None
    not_after = cert.not_valid_after_utc
    return TlsCertificate(
        host=host,
        port=port,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=not_after,
        days_left=(not_after - now).total_seconds() / _SECONDS_PER_DAY,
        verified=verify_error is None,
        verify_error=verify_error,
    )
