"""TLS hosts (issue 8 point 8): ``[tls] hosts`` entries checked on their own ports, apart from ``[app] url``, and
the certificate of the presented chain that expires first decides (named in the message).

Real TLS servers on 127.0.0.1 with trustme certificates: a chain whose intermediate expires before its leaf,
leaves with 5 and 90 days left, and one port whose SNI name chooses between two certificates.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import trustme
from aide_testing import serve
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from quiet_http import QuietHTTPServer

from conftest import PG_ADMIN_URL, free_port, require_service
from pytest_aide.config import ConfigError, load_config
from pytest_aide.errors import ProbeError
from pytest_aide.probes.tls import certificate_expiry
from pytest_aide.settings import TlsHostItem, parse_host_port

HANG_S = 30.0  # only a hang takes this long
NOW = datetime.now(UTC)
CHECKS = Path(__file__).resolve().parents[1] / "pytest_aide" / "suite" / "aide"


# --- certificates and servers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root() -> trustme.CA:
    return trustme.CA(organization_name="Aide Test Root")


@pytest.fixture
def cafile(root: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "root.pem"
    root.cert_pem.write_to_path(str(path))
    return str(path)


def intermediate_expiring(root: trustme.CA, days: float) -> tuple[trustme.CA, bytes]:
    """An intermediate CA of ``root`` that expires in ``days`` (trustme's own last for years): the CA that
    issues leaves, and its certificate's PEM for the chain a server presents."""
    child = root.create_child_ca()
    original = x509.load_pem_x509_certificate(child.cert_pem.bytes())
    root_key = serialization.load_pem_private_key(root.private_key_pem.bytes(), password=None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(original.issuer)
        .public_key(original.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=days))
    )
    for extension in original.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    short = builder.sign(root_key, hashes.SHA256())  # type: ignore[arg-type]
    pem = short.public_bytes(serialization.Encoding.PEM)
    return trustme.CA.from_pem(pem, child.private_key_pem.bytes()), pem


def server_context(leaf: trustme.LeafCert, tmp_path: Path, extra_chain: bytes = b"") -> ssl.SSLContext:
    """A server context presenting ``leaf``'s chain, plus ``extra_chain`` (an intermediate trustme cannot add)."""
    path = tmp_path / f"server-{id(leaf)}.pem"
    path.write_bytes(leaf.private_key_and_cert_chain_pem.bytes() + extra_chain)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(path))
    return context


def serve_tls(context: ssl.SSLContext) -> Iterator[int]:
    """Accept TLS connections on a free port until the test ends; each is held until the client hangs up."""

    def handshake(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:  # the client refused the certificate or hung up mid-handshake
            pass

    yield from serve(handshake)


@pytest.fixture
def short_intermediate_port(root: trustme.CA, tmp_path: Path) -> Iterator[int]:
    """A leaf with 90 days left behind an intermediate with 5."""
    inter, inter_pem = intermediate_expiring(root, 5)
    leaf = inter.issue_cert("127.0.0.1", "localhost", not_after=NOW + timedelta(days=90))
    yield from serve_tls(server_context(leaf, tmp_path, inter_pem))


@pytest.fixture
def leaf_5_days_port(root: trustme.CA, tmp_path: Path) -> Iterator[int]:
    leaf = root.issue_cert("127.0.0.1", "localhost", common_name="five.test", not_after=NOW + timedelta(days=5))
    yield from serve_tls(server_context(leaf, tmp_path))


@pytest.fixture
def leaf_90_days_port(root: trustme.CA, tmp_path: Path) -> Iterator[int]:
    leaf = root.issue_cert("127.0.0.1", "localhost", common_name="ninety.test", not_after=NOW + timedelta(days=90))
    yield from serve_tls(server_context(leaf, tmp_path))


@pytest.fixture
def sni_port(root: trustme.CA, tmp_path: Path) -> Iterator[int]:
    """One port, two sites: ``soon.test`` (5 days left) and ``later.test`` (90 days); no SNI gets ``later``."""
    soon = server_context(
        root.issue_cert("soon.test", common_name="soon.test", not_after=NOW + timedelta(days=5)), tmp_path
    )
    later = server_context(
        root.issue_cert("later.test", common_name="later.test", not_after=NOW + timedelta(days=90)), tmp_path
    )

    def choose(tls: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        if name == "soon.test":
            tls.context = soon

    later.sni_callback = choose  # type: ignore[assignment]
    yield from serve_tls(later)


# --- the probe --------------------------------------------------------------------------------------------


def test_an_intermediate_expiring_before_the_leaf_decides(short_intermediate_port: int, cafile: str) -> None:
    cert = certificate_expiry("127.0.0.1", short_intermediate_port, cafile=cafile)
    assert cert.verified, cert.verify_error
    assert [c.role for c in cert.chain] == ["leaf", "intermediate"]
    leaf, intermediate = cert.chain
    assert 89.9 < leaf.days_left <= 90.0
    assert 4.9 < intermediate.days_left <= 5.0
    assert cert.days_left == intermediate.days_left
    assert cert.not_after == intermediate.not_after
    assert cert.expiring.startswith(f"intermediate certificate {intermediate.subject}, expiring ")
    assert cert.subject == leaf.subject  # the leaf is still what the server is
    assert json.loads(json.dumps(cert.to_dict()))["chain"][1]["role"] == "intermediate"


def test_a_lone_leaf_decides_for_itself(leaf_5_days_port: int, cafile: str) -> None:
    cert = certificate_expiry("localhost", leaf_5_days_port, cafile=cafile)
    assert cert.verified
    assert len(cert.chain) == 1
    assert 4.9 < cert.days_left <= 5.0
    assert cert.expiring.startswith("leaf certificate CN=five.test")


def test_the_sni_name_chooses_the_certificate(sni_port: int, cafile: str) -> None:
    soon = certificate_expiry("127.0.0.1", sni_port, server_name="soon.test", cafile=cafile)
    later = certificate_expiry("127.0.0.1", sni_port, server_name="later.test", cafile=cafile)
    assert soon.verified
    assert later.verified
    assert "CN=soon.test" in soon.subject
    assert 4.9 < soon.days_left <= 5.0
    assert "CN=later.test" in later.subject
    assert 89.9 < later.days_left <= 90.0
    assert soon.server_name == "soon.test"


def test_a_chain_that_does_not_verify_is_still_read(short_intermediate_port: int) -> None:
    cert = certificate_expiry("127.0.0.1", short_intermediate_port)  # the system store knows no test root
    assert not cert.verified
    assert cert.verify_error
    assert 4.9 < cert.days_left <= 5.0


def test_a_plain_tcp_port_is_not_tls() -> None:
    server = QuietHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(ProbeError, match=r"TLS handshake failed \(.+\); is this a TLS port\?"):
            certificate_expiry("127.0.0.1", server.server_address[1], timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG_S)


def test_a_silent_port_times_out(silent_port: int) -> None:
    with pytest.raises(ProbeError, match=r"timed out after 0\.5 s"):
        certificate_expiry("127.0.0.1", silent_port, timeout=0.5)


# --- a port that switches to TLS inside its own protocol (PostgreSQL) -------------------------------------------


SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


@pytest.fixture
def postgres_like_port(root: trustme.CA, tmp_path: Path) -> Iterator[int]:
    """Speaks PostgreSQL's SSLRequest ('S', then TLS with a certificate 5 days from expiry), nothing else."""
    leaf = root.issue_cert("db.test", common_name="db.test", not_after=NOW + timedelta(days=5))
    context = server_context(leaf, tmp_path)

    def handle(conn: socket.socket) -> None:
        try:
            if conn.recv(8, socket.MSG_WAITALL) != SSL_REQUEST:
                return  # a client that starts with TLS (or anything else) is hung up on
            conn.sendall(b"S")
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            pass

    yield from serve(handle)


def test_postgres_starttls_reads_the_certificate(postgres_like_port: int, cafile: str) -> None:
    cert = certificate_expiry(
        "127.0.0.1", postgres_like_port, server_name="db.test", cafile=cafile, starttls="postgres"
    )
    assert cert.verified, cert.verify_error
    assert "CN=db.test" in cert.subject
    assert 4.9 < cert.days_left <= 5.0


def test_a_postgres_port_without_starttls_is_not_tls(postgres_like_port: int) -> None:
    with pytest.raises(ProbeError, match=r"TLS handshake failed .*; is this a TLS port\?"):
        certificate_expiry("127.0.0.1", postgres_like_port, timeout=5)


def test_starttls_against_the_real_postgresql() -> None:
    """The machine's PostgreSQL: with ssl off, the probe says so; with ssl on, its certificate is read."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
        row = conn.execute("SHOW ssl").fetchone()
    assert row is not None
    if row[0] == "off":
        with pytest.raises(ProbeError, match=r"the PostgreSQL server does not offer TLS \(ssl = off"):
            certificate_expiry("127.0.0.1", 5432, starttls="postgres", timeout=5)
    else:
        cert = certificate_expiry("127.0.0.1", 5432, starttls="postgres", timeout=5)
        assert cert.chain
        assert cert.days_left > 0


def test_starttls_against_a_port_that_is_not_postgresql(leaf_90_days_port: int) -> None:
    hung_up_or_answered = r": not a PostgreSQL server \(it (hung up on|answered .+ to) the SSLRequest\)$"
    with pytest.raises(ProbeError, match=hung_up_or_answered):
        certificate_expiry("127.0.0.1", leaf_90_days_port, starttls="postgres", timeout=5)


# --- the settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port", "shown"),
    [
        ("db.example.com:5432", "db.example.com", 5432, "db.example.com:5432"),
        ("ldap.example.com", "ldap.example.com", 443, "ldap.example.com:443"),
        ("[::1]:8443", "::1", 8443, "[::1]:8443"),
        (" 10.0.0.5:636 ", "10.0.0.5", 636, "10.0.0.5:636"),
    ],
)
def test_host_port_strings(text: str, host: str, port: int, shown: str) -> None:
    item = parse_host_port(text)
    assert (item.host, item.port, str(item)) == (host, port, shown)


def test_an_sni_name_is_part_of_the_id() -> None:
    assert str(TlsHostItem(host="10.0.0.5", port=443, server_name="api.example.com")) == "api.example.com@10.0.0.5:443"


@pytest.mark.parametrize("bad", ["db:99999", "db:", "a b:1", "::1:443", ""])
def test_a_bad_host_port_names_the_key_and_value(tmp_path: Path, bad: str) -> None:
    config = tmp_path / "aide.toml"
    config.write_text(f'[tls]\nhosts = ["ok.example.com:443", "{bad}"]\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(config, rootdir=tmp_path, environ={})
    message = str(excinfo.value)
    assert "aide.toml" in message
    assert "[tls] hosts" in message or "tls.hosts" in message
    assert "\n" not in message


def test_a_mistake_in_a_host_table_names_its_key(tmp_path: Path) -> None:
    config = tmp_path / "aide.toml"
    config.write_text('[tls]\nhosts = ["a.example.com:636", { host = "b.example.com", prot = 8443 }]\n')
    with pytest.raises(ConfigError, match=r"\[tls\.hosts\.1\] prot: unknown key$"):
        load_config(config, rootdir=tmp_path, environ={})


def test_a_host_threshold_for_an_unknown_metric_names_the_entry(tmp_path: Path) -> None:
    config = tmp_path / "aide.toml"
    config.write_text('[tls]\nhosts = [{ host = "a.example.com", thresholds = { tls_days = { warning = "30:" } } }]\n')
    with pytest.raises(ConfigError, match=r"\[tls\] hosts #1 thresholds\.tls_days"):
        load_config(config, rootdir=tmp_path, environ={})


# --- the shipped checks, one configuration --------------------------------------------------------------------


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_app() -> Iterator[str]:
    server = QuietHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(HANG_S)


def run_suite(pytester: pytest.Pytester, toml: str, *files: str) -> tuple[dict[str, dict], str]:
    config = pytester.path / "aide.toml"
    config.write_text(toml)
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",  # the outer run imported pytest_aide already
        *(str(CHECKS / f) for f in files),
        f"--aide-config={config}",
        "-q",
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    run = sorted((pytester.path / "reports").glob("2*/health.json"))[-1]
    checks = {c["nodeid"].split("::")[-1]: c for c in json.loads(run.read_text())["checks"]}
    return checks, output


def test_api_over_http_and_certificates_on_other_ports_in_one_config(
    pytester: pytest.Pytester,
    http_app: str,
    short_intermediate_port: int,
    leaf_90_days_port: int,
    sni_port: int,
    postgres_like_port: int,
    cafile: str,
) -> None:
    refused_port = free_port()
    starttls = 'starttls = "postgres"'
    tuned = 'thresholds = { tls_days_left = { warning = "100:" } }'  # this host only: warned under 100 days
    toml = f"""
[app]
url = "{http_app}"
health_path = "/health"

[tls]
hosts = [
  "127.0.0.1:{refused_port}",
  {{ host = "127.0.0.1", port = {short_intermediate_port}, ca_bundle = "{cafile}" }},
  {{ host = "127.0.0.1", port = {leaf_90_days_port}, ca_bundle = "{cafile}" }},
  {{ host = "127.0.0.1", port = {postgres_like_port}, server_name = "db.test", {starttls}, ca_bundle = "{cafile}" }},
  {{ host = "127.0.0.1", port = {sni_port}, server_name = "soon.test", ca_bundle = "{cafile}" }},
  {{ host = "127.0.0.1", port = {sni_port}, server_name = "later.test", ca_bundle = "{cafile}" }},
  {{ host = "localhost", port = {leaf_90_days_port}, ca_bundle = "{cafile}", {tuned} }},
]
"""
    checks, _ = run_suite(pytester, toml, "check_api.py", "check_tls.py")
    assert checks["check_api_health"]["status"] == "OK"
    assert checks["check_tls_certificate"]["status"] == "SKIPPED"  # [app] url is http: not its business
    by_host = {
        nodeid.removeprefix("check_tls_host[").removesuffix("]"): c
        for nodeid, c in checks.items()
        if nodeid.startswith("check_tls_host[")
    }
    assert len(by_host) == 7, sorted(by_host)

    intermediate = by_host[f"127.0.0.1:{short_intermediate_port}"]
    assert intermediate["status"] == "CRITICAL"
    assert intermediate["measurements"]["tls_days_left"]["value"] == pytest.approx(5, abs=0.1)
    assert (
        f"renew the TLS certificate: 127.0.0.1:{short_intermediate_port} presents the intermediate certificate OU="
        in intermediate["message"]
    )

    assert by_host[f"127.0.0.1:{leaf_90_days_port}"]["status"] == "OK"
    soon = by_host[f"soon.test@127.0.0.1:{sni_port}"]
    assert soon["status"] == "CRITICAL"
    assert f"soon.test@127.0.0.1:{sni_port} presents the leaf certificate CN=soon.test" in soon["message"]
    assert by_host[f"later.test@127.0.0.1:{sni_port}"]["status"] == "OK"

    tuned = by_host[f"localhost:{leaf_90_days_port}"]  # its own thresholds: warned at under 100 days
    assert tuned["status"] == "WARNING"
    assert "presents the leaf certificate CN=ninety.test" in tuned["message"]

    database = by_host[f"db.test@127.0.0.1:{postgres_like_port}"]
    assert database["status"] == "CRITICAL"
    assert "presents the leaf certificate CN=db.test" in database["message"]

    refused = by_host[f"127.0.0.1:{refused_port}"]
    assert refused["status"] == "UNKNOWN"  # nothing could be measured
    assert f"TLS probe of 127.0.0.1:{refused_port}: connection refused" in refused["message"]
