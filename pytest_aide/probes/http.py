"""HTTP probes of the target: one request, timed, classified, never raising for network trouble.

There is deliberately no retry: a health probe reports what it sees, and a retry would hide exactly the
flakiness an operator needs to know about. Network failures become a one-line ``error`` on the returned
:class:`HttpProbe`, so a run over many endpoints records every outcome instead of stopping at the first.

requests (with urllib3) is imported when a client sends its first request, not with this module: a process
that only reads probes taken elsewhere (an xdist worker fed by its controller) never pays the ~0.15 s.
"""

from __future__ import annotations

import json as _json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from http.client import RemoteDisconnected
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_aide.errors import ProbeError
from pytest_aide.probes.closing import ClosesOnExit
from pytest_aide.redact import Redactor

if TYPE_CHECKING:
    import requests

    from pytest_aide.dependencies import Dependency

EXCERPT_CHARS = 2048
MAX_BODY_BYTES = 1_048_576  # read no more of a body than this; a larger one is not parsed as JSON
_CHUNK_BYTES = 65_536
_ERROR_CHARS = 300
_SENSITIVE_HEADER = re.compile(r"(?i)auth|token|key|secret|cookie|session|password")
_INDEX = re.compile(r"-?\d+")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


@dataclass(frozen=True)
class HttpProbe:
    """The outcome of one request; ``url``, ``body_excerpt``, ``json`` and ``error`` are already redacted."""

    name: str
    url: str
    method: str
    status_code: int | None
    elapsed_s: float
    ok: bool
    body_excerpt: str
    json: Any
    error: str | None
    complete: bool = False  # a whole response arrived, so elapsed_s is a response time (not a failure's)
    outage: str = ""  # the circuit (app:host:port) that no response came through: refused, timed out or open

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only, so the probe can cross the xdist boundary and go into JSON reports."""
        return asdict(self)


class _BodyTimeout(Exception):
    pass


class HttpClient(ClosesOnExit):
    """Probes paths of one target over a pooled :class:`requests.Session` (safe to share across threads),
    built at the first request.

    ``connect_timeout`` bounds establishing the connection and ``read_timeout`` every wait for data; the
    whole response must also arrive within their sum, so a server trickling bytes cannot hold a probe.
    ``verify`` is True, False or a CA bundle path, as in requests. Values of
    secret-looking ``headers`` (authorization, tokens, keys, cookies) are masked in everything returned.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
        pool_size: int = 32,
        redactor: Redactor | None = None,
        dependency_for: Callable[[str], Dependency | None] | None = None,
    ) -> None:
        self.base_url = base_url
        self._dependency_for = dependency_for
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = pool_size
        self._redactor = redactor if redactor is not None else Redactor()
        self._header_redactor = Redactor(_header_secrets(headers or {}))
        self._verify = verify
        self._headers = dict(headers or {})
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._environment: dict[tuple[str, str], dict[str, Any]] = {}

    def close(self) -> None:
        """Close pooled connections."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()

    def _pooled_session(self) -> requests.Session:
        session = self._session
        if session is not None:
            return session
        with self._session_lock:  # the first requests of a pool arrive together: one session for them all
            if self._session is None:
                if self._verify is False:
                    import urllib3

                    # The operator turned verification off on purpose ([app] verify_tls = false): urllib3 would
                    # otherwise warn on every probe (an error under filterwarnings=error).
                    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
                self._session = _make_session(self._headers, self.pool_size)
            return self._session

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL is used as is; a path is appended to ``base_url`` (keeping any base path)."""
        if "://" in path_or_url:
            return path_or_url
        return self.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")

    def probe(
        self,
        path_or_url: str,
        *,
        method: str = "GET",
        expect_status: int | None = 200,
        name: str | None = None,
    ) -> HttpProbe:
        """Send one request and describe what came back; ``expect_status=None`` accepts any status."""
        url = self.url_for(path_or_url)
        shown_name = self._redact(name if name is not None else path_or_url)
        began = time.perf_counter()
        status, body, error, outage = self._guarded_fetch(method.upper(), url)
        elapsed = time.perf_counter() - began
        complete = status is not None and error is None
        if error is None and expect_status is not None and status != expect_status:
            error = f"expected status {expect_status}, got {status}"
        return HttpProbe(
            name=shown_name,
            url=self._redact(url),
            method=method.upper(),
            status_code=status,
            elapsed_s=elapsed,
            ok=error is None,
            body_excerpt=self._redact(_decode(body)[:EXCERPT_CHARS]),
            json=self._redactor.redact_data(self._header_redactor.redact_data(_parse_json(body))),
            error=None if error is None else _one_line(self._redact(error)),
            complete=complete,
            outage=outage,
        )

    def _guarded_fetch(self, method: str, url: str) -> tuple[int | None, bytes, str | None, str]:
        """``_fetch`` through the circuit of the URL's host; the circuit's name when no response came."""
        from pytest_aide.dependencies import DependencyDown

        dependency = self._dependency_for(url) if self._dependency_for is not None else None
        if dependency is None:
            return (*self._fetch(method, url), "")
        try:
            permit = dependency.admit()
        except DependencyDown as exc:
            return None, b"", str(exc), exc.circuit
        try:
            status, body, error = self._fetch(method, url)
        except BaseException:
            dependency.breaker.release(permit)
            raise
        unreached = status is None and error is not None  # refused, timed out, reset: no answer at all
        dependency.settle(permit, self._redact(error) if unreached and error else None)
        return status, body, error, dependency.circuit if unreached else ""

    def _fetch(self, method: str, url: str) -> tuple[int | None, bytes, str | None]:
        """(status, body, error) of one request; the body is cut at MAX_BODY_BYTES."""
        import requests
        from urllib3.exceptions import HTTPError

        deadline = time.monotonic() + self.connect_timeout + self.read_timeout
        session = self._pooled_session()
        try:
            response = session.request(
                method, url, timeout=(self.connect_timeout, self.read_timeout), stream=True, **self._settings_for(url)
            )
        except requests.RequestException as exc:
            return None, b"", self._describe(exc, url)
        with response:
            try:
                return response.status_code, _read_body(response, deadline), None
            except _BodyTimeout:
                budget = self.connect_timeout + self.read_timeout
                return response.status_code, b"", f"response not complete within {budget:g} s"
            except (requests.RequestException, HTTPError, OSError) as exc:
                return response.status_code, b"", self._describe(exc, url)

    def _settings_for(self, url: str) -> dict[str, Any]:
        """What requests takes from the environment for ``url`` (proxies and NO_PROXY, REQUESTS_CA_BUNDLE when
        verify is on, ~/.netrc credentials), looked up once per scheme and host instead of on every request:
        requests re-reads the whole environment and stats ~/.netrc each time, about half of a probe's CPU."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._environment.get(key)
        if found is None:
            import requests
            from requests.utils import get_netrc_auth

            merged = requests.Session().merge_environment_settings(url, {}, None, self._verify, None)
            found = {"proxies": merged["proxies"], "verify": merged["verify"], "auth": get_netrc_auth(url)}
            self._environment[key] = found  # a race only computes the same value twice
        return found

    def _describe(self, exc: Exception, url: str) -> str:
        return describe_request_error(exc, url, connect_timeout=self.connect_timeout, read_timeout=self.read_timeout)

    def _redact(self, text: str) -> str:
        return self._redactor.redact(self._header_redactor.redact(text))


def pick(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` in parsed JSON: ``cache.hit_rate_percent``, ``items.0.id``.

    Raises ProbeError naming the segment that is missing and where it was looked for. Keys that contain a
    dot cannot be addressed.
    """
    current = data
    walked: list[str] = []
    for segment in path.split("."):
        where = repr(".".join(walked)) if walked else "the response"
        if not segment:
            raise ProbeError(f"empty segment in path {path!r}")
        current = _step(current, segment, where)
        walked.append(segment)
    return current


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages (``object``, ``array``, ``null``...)."""
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def describe_request_error(exc: Exception, url: str, *, connect_timeout: float, read_timeout: float) -> str:
    """One line saying why a request failed, in an operator's words rather than urllib3's."""
    import requests
    from urllib3.exceptions import NameResolutionError, ProtocolError, ReadTimeoutError

    causes = list(_causes(exc))
    if isinstance(exc, requests.ConnectTimeout):
        return f"connect timed out after {connect_timeout} s"
    if any(isinstance(cause, requests.ReadTimeout | ReadTimeoutError | TimeoutError) for cause in causes):
        return f"timed out after {read_timeout} s"
    if any(isinstance(cause, NameResolutionError) for cause in causes):
        return f"cannot resolve host {urlsplit(url).hostname}"
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    tls = next((cause for cause in causes if isinstance(cause, ssl.SSLError)), None)
    if tls is not None or isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_tls_reason(tls, exc)}"
    if any(isinstance(cause, ConnectionResetError | ConnectionAbortedError) for cause in causes):
        return "connection reset by the server"
    if isinstance(
        exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema
    ):
        return f"invalid URL: {exc}"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | ProtocolError):
        return "connection closed before the response was complete"
    if any(isinstance(cause, RemoteDisconnected) for cause in causes):
        return "connection closed by the server without a response"
    return f"{type(exc).__name__}: {exc}"


def _make_session(headers: Mapping[str, str], pool_size: int) -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.trust_env = False  # the environment is read once per host (HttpClient._settings_for)
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(headers)
    return session


def _header_secrets(headers: Mapping[str, str]) -> list[str]:
    """Values of secret-looking headers, plus the credential part of ``Scheme credential`` values."""
    secrets: list[str] = []
    for name, value in headers.items():
        if _SENSITIVE_HEADER.search(name):
            secrets.append(value)
            secrets.extend(value.split()[1:])
    return secrets


def _read_body(response: requests.Response, deadline: float) -> bytes:
    """Read up to MAX_BODY_BYTES before ``deadline``.

    ``read1`` returns whatever one socket read brings, so the deadline is checked even while a server
    trickles bytes (each read bounded by the read timeout, the total by the deadline).
    """
    raw = response.raw
    read = raw.read1 if hasattr(raw, "read1") else raw.read  # read1 needs urllib3 >= 2.3
    chunks: list[bytes] = []
    size = 0
    while size < MAX_BODY_BYTES:
        if time.monotonic() > deadline:
            raise _BodyTimeout
        chunk = read(_CHUNK_BYTES)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:MAX_BODY_BYTES]


def _decode(body: bytes) -> str:
    return body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")


def _parse_json(body: bytes) -> Any:
    """The parsed body, or None when it is empty, cut at MAX_BODY_BYTES, or not JSON."""
    if not body.strip() or len(body) >= MAX_BODY_BYTES:
        return None
    try:
        return _json.loads(body)
    except (ValueError, RecursionError):
        return None


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: args, urllib3's ``reason``, ``__cause__`` and ``__context__``."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _tls_reason(tls: ssl.SSLError | None, exc: BaseException) -> str:
    if isinstance(tls, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {tls.verify_message}"
    if tls is not None and tls.reason:
        return str(tls.reason)
    return str(exc)


def _step(value: Any, segment: str, where: str) -> Any:
    if isinstance(value, Mapping):
        if segment not in value:
            raise ProbeError(f"no key {segment!r} in {where}")
        return value[segment]
    if isinstance(value, list):
        if not _INDEX.fullmatch(segment):
            raise ProbeError(f"{segment!r} is not an index of the array {where}")
        index = int(segment)
        if not -len(value) <= index < len(value):
            raise ProbeError(f"index {index} is out of range in {where} ({len(value)} items)")
        return value[index]
    raise ProbeError(f"no {segment!r} in {where}: it is {json_type(value)}, not an object or array")
