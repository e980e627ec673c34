"""One circuit per dependency of a run, and what an outage of one looks like to the check that met it.

Every probe of a dependency (the app and each HTTP host, the database, the cache) goes through a
:class:`Dependency`: its circuit breaker (one per host:port, from the run's registry) admits the call or
refuses it at once, and only a failure to *reach* the dependency — connection refused, lost or timed out
(:func:`is_outage`) — counts against it. An answer the check dislikes (an SQL error, a 500, a value over its
threshold) is an answer: the circuit stays closed. So a database that hangs costs the first
``failure_threshold`` calls a timeout each, and the checks after them fail at once.

An outage is raised as :class:`DependencyDown` (a ProbeError: the check is UNKNOWN, it measured nothing) and
noted for the check running in this thread (:func:`watching`), so the wiring can tell the controller which
dependency a failed check could not reach; :mod:`pytest_aide.rootcause` names one root cause per dependency
and the checks it blocked. Importable without pytest; the breakers are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, TypeVar
from urllib.parse import urlsplit

from pytest_aide.errors import ProbeError, ProbeUnreachable

if TYPE_CHECKING:  # the resilience package (and tenacity) load when a dependency is first guarded
    from pytest_aide.resilience.breaker import CircuitBreaker, Permit

T = TypeVar("T")
P = ParamSpec("P")

DB, CACHE, APP = "db", "cache", "app"
KINDS = (DB, CACHE, APP)
FIXTURE_DEPENDENCIES = {  # a check that uses the fixture depends on the dependency
    "aide_db": DB,
    "aide_cache": CACHE,
    "aide_app": APP,
    "aide_endpoint_probe": APP,
    "aide_endpoint_probes": APP,
}
_DEFAULT_PORTS = {
    "postgresql": 5432,
    "postgres": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "redis": 6379,
    "rediss": 6379,
    "http": 80,
    "https": 443,
}
# Exceptions (by class name, anywhere in an error's chain) that mean "the dependency did not answer", for
# drivers that are imported lazily: psycopg's OperationalError covers refused, lost and timed-out
# connections and the server's statement timeout; redis's ConnectionError and TimeoutError the same.
_OUTAGE_NAMES = {
    "psycopg": {"OperationalError", "InterfaceError"},
    "redis": {"ConnectionError", "TimeoutError"},
    "requests": {"ConnectionError", "Timeout"},
}
_MYSQL_OUTAGE = range(2000, 3000)  # client-side CR_* codes: cannot connect, server gone, lost connection
_MYSQL_TIMEOUT = 3024  # ER_QUERY_TIMEOUT: max_execution_time reached


class DependencyDown(ProbeError):
    """A dependency did not answer, or its circuit is open and the call was not made at all (``rejected``)."""

    def __init__(self, kind: str, circuit: str, message: str, *, rejected: bool) -> None:
        self.kind = kind
        self.circuit = circuit
        self.rejected = rejected
        super().__init__(message)


@dataclass(frozen=True)
class Outage:
    """What one check met: ``kind`` (db, cache, app) could not be reached through ``circuit``."""

    kind: str
    circuit: str
    message: str


_NOTES: ContextVar[list[Outage] | None] = ContextVar("aide_outages", default=None)


@contextmanager
def watching() -> Iterator[list[Outage]]:
    """Collect the outages met by calls made in this thread while the block runs (one check's run)."""
    notes: list[Outage] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def watch_check() -> list[Outage]:
    """Start collecting, in this thread, the outages of the check about to run; returns its (empty) list.

    The wiring calls it once per check, at its setup: the next check's call replaces the list, so no reset is
    needed between checks (cheaper than a ``pytest_runtest_protocol`` wrapper around every check).
    """
    notes: list[Outage] = []
    _NOTES.set(notes)
    return notes


def stop_watching() -> None:
    """Outages met outside any check (a plain test between checks, the session's end) belong to none."""
    _NOTES.set(None)


def note(outage: Outage) -> None:
    """Tell the check running in this thread (if any) that it met ``outage``."""
    notes = _NOTES.get()
    if notes is not None and outage not in notes:
        notes.append(outage)


def circuit_name(kind: str, url: str) -> str:
    """``db:127.0.0.1:5432``: the dependency kind and the host:port a URL reaches — never its user or password.

    A URL without a host (SQLite file, Unix socket, libpq keywords) is ``<kind>:local``.
    """
    from pytest_aide.redact import url_redactor

    url = url_redactor(url).redact(url)  # an unencoded "/" or "#" in a password must not leave a piece of it
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed netloc (an unencoded "/" in a password...): say nothing of it
        return f"{kind}:local"
    if not host or "://" not in url:
        return f"{kind}:local"
    shown = f"[{host}]" if ":" in host else host
    return f"{kind}:{shown}:{port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)}"


def http_lookup(
    app_url: str, dependency: Callable[[str, str], Dependency | None]
) -> Callable[[str], Dependency | None]:
    """The circuit of each URL's host for an HTTP client: the app (``app:host:port``) for ``app_url``'s host,
    any other host a dependency of its own (``http:host:port``); ``dependency(kind, circuit)`` makes one. Each
    host is looked up once, not once per probe."""
    app_host = urlsplit(app_url).netloc
    known: dict[tuple[str, str], Dependency | None] = {}

    def dependency_for(url: str) -> Dependency | None:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in known:  # a race only looks the same circuit up twice
            if parts.netloc == app_host:
                known[key] = dependency(APP, circuit_name(APP, url))
            else:
                other = circuit_name("http", url)
                known[key] = dependency(other, other)
        return known[key]

    return dependency_for


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error in its chain) says the dependency did not answer, as opposed to an answer
    the check did not like. Probes re-raise driver errors as one-line ProbeErrors, so the chain is read."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DependencyDown | ProbeUnreachable | OSError) or _driver_outage(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _driver_outage(exc: BaseException) -> bool:
    module = type(exc).__module__.split(".", 1)[0]
    if module == "pymysql":
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        return code is not None and (code in _MYSQL_OUTAGE or code == _MYSQL_TIMEOUT)
    names = _OUTAGE_NAMES.get(module, set())
    return any(cls.__name__ in names for cls in type(exc).__mro__)


class Dependency:
    """One dependency (``kind``) reached through one circuit breaker; probes take it as an argument.

    Example::

        db = Dependency("db", registry.get("db:127.0.0.1:5432", failure_threshold=2))
        database = db.call(open_database, url, timeout=2)   # DependencyDown if it hangs, or once its circuit opens
    """

    def __init__(self, kind: str, breaker: CircuitBreaker) -> None:
        self.kind = kind
        self.breaker = breaker

    @property
    def circuit(self) -> str:
        return self.breaker.name

    def __repr__(self) -> str:
        return f"<Dependency {self.circuit}>"

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` through the circuit; an outage (or an open circuit) raises DependencyDown."""
        permit = self.admit()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self.settle(permit, exc if is_outage(exc) else None)
            if is_outage(exc) and not isinstance(exc, DependencyDown):
                raise self.down(str(exc) or type(exc).__name__) from exc
            raise
        except BaseException:  # interrupted, or pytest's skip: the dependency said nothing
            self.breaker.release(permit)
            raise
        self.settle(permit, None)
        return result

    def admit(self) -> Permit:
        """Let one call through, or raise DependencyDown (noted) without making it: the circuit is open."""
        from pytest_aide.resilience.breaker import CircuitOpenError

        try:
            return self.breaker.before_call()
        except CircuitOpenError as exc:
            raise self.down(str(exc), rejected=True) from None

    def settle(self, permit: Permit, outage: BaseException | str | None) -> None:
        """The admitted call ended: ``outage`` (an error or its line) if the dependency did not answer."""
        if outage is None:
            self.breaker.record_success(permit)
            return
        error = outage if isinstance(outage, BaseException) else ProbeError(outage)
        self.breaker.record_failure(permit, error)
        if isinstance(outage, str):
            note(Outage(self.kind, self.circuit, outage))

    def down(self, message: str, *, rejected: bool = False) -> DependencyDown:
        """The error for an outage of this dependency, noted for the running check."""
        note(Outage(self.kind, self.circuit, message))
        return DependencyDown(self.kind, self.circuit, message, rejected=rejected)
