"""TLS certificate expiry of a server: every certificate it presents, read even when the chain does not verify.

The certificate that expires first decides: an intermediate that runs out before the leaf breaks every client
all the same. The standard library exposes the presented chain only from Python 3.13, so the chain is read in a
handshake through pyOpenSSL without verification (an expired or self-signed certificate is exactly what an
operator must see), and ``verified`` is learned in a second handshake by the standard library with the usual
checks (trust store or CA bundle, host name). ``timeout`` bounds both.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from OpenSSL import SSL

from pytest_aide.errors import ProbeError
from pytest_aide.redact import redact_url

_SECONDS_PER_DAY = 86_400.0
_POSTGRES_SSL_REQUEST = struct.pack("!II", 8, 80877103)  # the SSLRequest message of PostgreSQL's protocol
STARTTLS = ("postgres",)


class _NoTls(Exception):
    """The server answered a STARTTLS request without switching to TLS."""


@dataclass(frozen=True)
class ChainCertificate:
    """One certificate of the presented chain; ``position`` 0 is the server's own (the leaf)."""

    position: int
    subject: str
    issuer: str
    not_after: datetime
    days_left: float

    @property
    def role(self) -> str:
        """``leaf``, ``intermediate`` or ``root`` (a self-issued certificate the server sends along)."""
        if self.position == 0:
            return "leaf"
        return "root" if self.subject == self.issuer else "intermediate"

    def describe(self) -> str:
        """``intermediate certificate CN=R3,O=Let's Encrypt, expiring 2026-12-05 10:00 UTC``."""
        return f"{self.role} certificate {self.subject}, expiring {self.not_after:%Y-%m-%d %H:%M} UTC"

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "role": self.role,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
        }


@dataclass(frozen=True)
class TlsCertificate:
    """What a TLS server presents: the leaf's ``subject``/``issuer``, and the expiry (``not_after``,
    ``days_left``) of the certificate in the chain that expires first, described in ``expiring``.
    ``verify_error`` says why ``verified`` is False."""

    host: str
    port: int
    subject: str
    issuer: str
    not_after: datetime
    days_left: float
    verified: bool
    verify_error: str | None
    server_name: str = ""
    chain: tuple[ChainCertificate, ...] = field(default=())
    expiring: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only: datetimes become ISO 8601 strings."""
        return {
            "host": self.host,
            "port": self.port,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
            "verified": self.verified,
            "verify_error": self.verify_error,
            "server_name": self.server_name,
            "chain": [c.to_dict() for c in self.chain],
            "expiring": self.expiring,
        }


def certificate_expiry(
    host: str,
    port: int = 443,
    *,
    timeout: float = 5.0,
    server_name: str | None = None,
    now: datetime | None = None,
    cafile: str | None = None,
    starttls: str | None = None,
) -> TlsCertificate:
    """Read the certificate chain of ``host:port`` and count the days until its first certificate expires.

    ``server_name`` is sent as SNI and checked against the certificate (default: ``host``). ``timeout``
    bounds the whole probe, both handshakes included. ``cafile`` replaces the default trust store for the
    ``verified`` verdict. ``starttls="postgres"`` asks a PostgreSQL server to switch to TLS first (its port
    speaks its own protocol before that). Raises ProbeError when no certificate can be read (refused,
    timeout, not TLS).
    """
    if starttls is not None and starttls not in STARTTLS:
        raise ValueError(f"starttls must be one of {', '.join(STARTTLS)}, not {starttls!r}")
    current = _aware_now(now)
    name = server_name or host
    where = f"TLS probe of {host}:{port}"
    deadline = time.monotonic() + timeout
    try:
        presented = _peer_chain(host, port, name, deadline, starttls)
        verify_error = _verify_error(host, port, name, cafile, deadline, starttls)
    except _NoTls as exc:
        raise ProbeError(f"{where}: {exc}") from None
    except TimeoutError:
        raise ProbeError(f"{where}: timed out after {timeout} s") from None
    except ConnectionRefusedError:
        raise ProbeError(f"{where}: connection refused") from None
    except socket.gaierror:
        raise ProbeError(f"{where}: cannot resolve host {host}") from None
    except SSL.SysCallError as exc:
        raise ProbeError(f"{where}: TLS handshake failed ({_syscall_reason(exc)}); is this a TLS port?") from None
    except SSL.Error as exc:
        raise ProbeError(f"{where}: TLS handshake failed ({_openssl_reason(exc)}); is this a TLS port?") from None
    except ssl.SSLError as exc:
        raise ProbeError(f"{where}: TLS handshake failed ({exc.reason or exc}); is this a TLS port?") from None
    except OSError as exc:
        raise ProbeError(f"{where}: {exc.strerror or exc}") from None
    except ValueError as exc:  # cryptography could not parse a certificate of the chain
        raise ProbeError(f"{where}: cannot parse the certificate chain ({exc})") from None
    return _describe(presented, host, port, name, current, verify_error)


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


def _connect(host: str, port: int, deadline: float, starttls: str | None) -> socket.socket:
    """A TCP connection ready for the TLS handshake (after the protocol's own request to switch, if any)."""
    raw = socket.create_connection((host, port), timeout=_remaining(deadline))
    try:
        if starttls == "postgres":
            raw.settimeout(_remaining(deadline))
            raw.sendall(_POSTGRES_SSL_REQUEST)
            try:
                answer = raw.recv(1)
            except (ConnectionResetError, ConnectionAbortedError):
                answer = b""
            if not answer:
                raise _NoTls("not a PostgreSQL server (it hung up on the SSLRequest)")
            if answer == b"N":
                raise _NoTls("the PostgreSQL server does not offer TLS (ssl = off in postgresql.conf)")
            if answer != b"S":
                raise _NoTls(f"not a PostgreSQL server (it answered {answer!r} to the SSLRequest)")
    except BaseException:
        raw.close()
        raise
    return raw


def _peer_chain(host: str, port: int, name: str, deadline: float, starttls: str | None) -> list[x509.Certificate]:
    """The certificates the server sends, leaf first, read without verifying them (pyOpenSSL)."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)  # we only read the chain; nothing is sent over this link
    with _connect(host, port, deadline, starttls) as raw:
        raw.setblocking(False)
        connection = SSL.Connection(context, raw)
        if not _is_ip_address(name):  # SNI carries names only (RFC 6066), as the standard library does
            connection.set_tlsext_host_name(name.encode("idna"))
        connection.set_connect_state()
        _handshake(connection, raw, deadline)
        chain = connection.get_peer_cert_chain(as_cryptography=True)
    if not chain:
        raise SSL.Error([("", "", "the server sent no certificate")])
    return chain


def _handshake(connection: SSL.Connection, raw: socket.socket, deadline: float) -> None:
    """Drive a non-blocking handshake to its end, waiting on the socket no longer than ``deadline``."""
    while True:
        try:
            connection.do_handshake()
            return
        except SSL.WantReadError:
            ready = select.select([raw], [], [], _remaining(deadline))[0]
        except SSL.WantWriteError:
            ready = select.select([], [raw], [], _remaining(deadline))[1]
        if not ready:
            raise TimeoutError


def _verify_error(
    host: str, port: int, name: str, cafile: str | None, deadline: float, starttls: str | None
) -> str | None:
    """Why the standard library's checks (trust, expiry, host name) reject the server, or None when they pass."""
    context = ssl.create_default_context(cafile=cafile)
    try:
        with _connect(host, port, deadline, starttls) as raw:
            raw.settimeout(_remaining(deadline))
            with context.wrap_socket(raw, server_hostname=name):
                return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc.reason or exc)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _openssl_reason(exc: SSL.Error) -> str:
    """The last reason of OpenSSL's error queue (``wrong version number``), or the exception's text."""
    queue = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [entry[-1] for entry in queue if isinstance(entry, tuple) and entry and entry[-1]]
    return str(reasons[-1]) if reasons else str(exc) or type(exc).__name__


def _syscall_reason(exc: SSL.SysCallError) -> str:
    """``connection closed`` for an EOF mid-handshake, else the system's words."""
    if len(exc.args) >= 2 and exc.args[0] in (-1, 0):
        return "connection closed during the handshake"
    return str(exc.args[-1]) if exc.args else type(exc).__name__


def _describe(
    presented: list[x509.Certificate], host: str, port: int, name: str, now: datetime, verify_error: str | None
) -> TlsCertificate:
    chain = tuple(
        ChainCertificate(
            position=position,
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_after=cert.not_valid_after_utc,
            days_left=(cert.not_valid_after_utc - now).total_seconds() / _SECONDS_PER_DAY,
        )
        for position, cert in enumerate(presented)
    )
    first = min(chain, key=lambda c: (c.not_after, c.position))  # on a tie, the certificate nearer the leaf
    leaf = chain[0]
    return TlsCertificate(
        host=host,
        port=port,
        subject=leaf.subject,
        issuer=leaf.issuer,
        not_after=first.not_after,
        days_left=first.days_left,
        verified=verify_error is None,
        verify_error=verify_error,
        server_name=name,
        chain=chain,
        expiring=first.describe(),
    )
