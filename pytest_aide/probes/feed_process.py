"""The xdist controller's endpoint probes, made in a child process of its own.

The controller is the hub of an xdist run: every worker's reports arrive there, and a worker gets its next
checks only once the controller has taken in the reports before them. Probe threads in the controller's own
process hold its interpreter lock for about a millisecond per probe (the HTTP client's work), so with many
endpoints the controller fell behind and the workers waited (measured with 1,000 endpoints on 2 cores: the
controller busy 2.7 s of a 3.3 s run, each worker 1.1 s). :class:`ProbeProcess` runs the same
:class:`~pytest_aide.probes.feed.FeedWriter` in a child interpreter, started before the workers
(:class:`ProbeChild`): the controller's probes go out while they boot.

The parent talks to the child over its standard input, one JSON object per line: first the job (the feed's
path, the client's options, the endpoints, the secrets to mask, the circuits), then plans (endpoint names),
then ``go`` once the target is up (or ``error``: the feed then carries that error instead of probes). End of
input ends the probing; the child then prints its circuits' statistics and exits. Nothing secret is on the
child's command line. The parent never waits on the pipe (a sender thread writes), and every wait on the child
is bounded: a child that hangs is killed, one that dies early leaves an error line in the feed, so the
workers' checks are UNKNOWN with the reason instead of waiting out their idle limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from pytest_aide.errors import ProbeError

STOP_GRACE_S = 5.0  # on top of the in-flight probes' wait: a child that has not exited by then is killed
_END = None  # the sender's sentinel: close the child's input


@dataclass(frozen=True)
class Circuits:
    """The child's circuit breakers: ``[resilience.breakers]`` defaults and the dependencies' threshold."""

    app_url: str
    failure_threshold: int
    policy: Mapping[str, Any] = field(default_factory=dict)  # BreakerPolicy's fields


@dataclass(frozen=True)
class ProbeJob:
    """What the child needs to probe as the controller would: plain data, sent over a pipe."""

    path: Path
    client: Mapping[str, Any]  # HttpClient's keyword arguments (see endpointfeed.app_client_options)
    endpoints: Sequence[Mapping[str, Any]]  # each endpoint's EndpointSpec arguments (endpointfeed.endpoint_data)
    concurrency: int
    secrets: Sequence[str] = ()
    circuits: Circuits | None = None

    def to_line(self) -> str:
        return json.dumps(
            {
                "path": str(self.path),
                "client": dict(self.client),
                "endpoints": [dict(data) for data in self.endpoints],
                "concurrency": self.concurrency,
                "secrets": list(self.secrets),
                "circuits": asdict(self.circuits) if self.circuits is not None else None,
            }
        )


class ProbeChild:
    """The child interpreter, started before its job is known: it imports what it probes with (requests and
    the feed's writer, most of its boot) while the parent goes on, and waits for the job on its input.

    The xdist controller starts one as soon as it knows the run is distributed, before it loads its own
    configuration, and its :class:`ProbeProcess` adopts it, unless the parent's environment or working folder
    changed meanwhile (requests reads proxies and CA bundles from the child's own environment: a child that
    does not see what the workers see is not adopted). One that no job comes for is released (its input
    closed: it exits) and reaped (waited for; killed after ``STOP_GRACE_S``).
    """

    def __init__(self, python: str = sys.executable) -> None:
        self._environ, self._cwd = dict(os.environ), os.getcwd()
        # The child's standard error, for the reason if it dies: a file without a name, so nothing is left behind.
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by reap(), kill() or its ProbeProcess)
        try:
            self.process = subprocess.Popen(
                [python, "-m", "pytest_aide.probes.feed_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.errors,
                text=True,
                encoding="utf-8",
                close_fds=True,
            )
        except OSError:
            self.errors.close()
            raise
        self._lock = threading.Lock()
        self._owner: str | None = None  # "adopted" or "released"

    def adopt(self, *, check_environment: bool = True) -> bool:
        """Take the child for a job: False when it was released already, or is released now because the
        environment or the working folder changed since it started (start another one then)."""
        if check_environment and (dict(os.environ) != self._environ or os.getcwd() != self._cwd):
            self.release()
        return self._claim("adopted")

    def release(self) -> None:
        """No job will come: close the child's input, so it exits without probing (no wait here)."""
        if self._claim("released"):
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()

    def reap(self) -> None:
        """Release it unless adopted, and wait for it to exit (killed after ``STOP_GRACE_S``). An adopted one is
        its ProbeProcess's to end."""
        self.release()
        if self._owner == "released":
            _end(self.process)
            self._close_streams()

    def kill(self) -> None:
        """End it now, whoever owns it (its adopter failed to start): kill, wait, close its streams."""
        self._claim("released")
        self.process.kill()
        _end(self.process)
        self._close_streams()

    def _close_streams(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.errors):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _claim(self, owner: str) -> bool:
        with self._lock:
            if self._owner is not None:
                return False
            self._owner = owner
            return True


def _end(process: subprocess.Popen[str]) -> None:
    """Wait ``STOP_GRACE_S`` for ``process`` to exit; kill it if it has not (and wait as long again)."""
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_S)


class ProbeProcess:
    """A :class:`~pytest_aide.probes.feed.FeedWriter` in a child process: probes the job's endpoints by name
    as planned, appending each result to ``job.path``.

    ``before`` (starting the target) runs in a thread of this process; the child probes once it is done, or
    writes its ProbeError to the feed. :meth:`close` ends the probing and returns the child's circuit
    statistics (empty when it gave none).
    """

    def __init__(
        self,
        job: ProbeJob,
        *,
        before: Callable[[], None] | None = None,
        python: str = sys.executable,
        child: ProbeChild | None = None,
    ) -> None:
        """``child``: one started early (:class:`ProbeChild`); when it is None or cannot be adopted a new one is
        started, with ``python``. OSError when no process can be started."""
        from pytest_aide.redact import Redactor

        self.path = job.path
        self.path.touch()  # a worker may look before the child has started: the feed exists from now on
        self._redact = Redactor(job.secrets)
        self._known = {data["name"] for data in job.endpoints}
        self._exact = False
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        if child is None or not child.adopt():
            child = ProbeChild(python)
            child.adopt(check_environment=False)  # started just now, in this environment
        self._child, self._errors = child.process, child.errors
        self._statistics: dict[str, dict[str, Any]] = {}
        self._statistics_taken = False
        self._reported = threading.Event()  # the child sent its statistics, or its output ended
        try:
            self._outbox.put(job.to_line())
            self._sender = threading.Thread(target=self._send, name="aide-probe-process-send", daemon=True)
            self._sender.start()
            self._reader = threading.Thread(target=self._read, name="aide-probe-process-read", daemon=True)
            self._reader.start()
            self._watcher = threading.Thread(target=self._watch, name="aide-probe-process-watch", daemon=True)
            self._watcher.start()
            self.starter = threading.Thread(
                target=self._start, args=(before,), name="aide-probe-process-start", daemon=True
            )
            self.starter.start()
        except BaseException:
            self._closing.set()  # the watcher, if it started, says nothing of a child killed on purpose
            child.kill()  # nobody would close() this ProbeProcess: end the child it adopted
            raise

    @property
    def exact(self) -> bool:
        """Whether the plan is the selection the workers collected (no longer a guess)."""
        return self._exact

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def running(self) -> bool:
        return self._child.poll() is None

    def plan(self, names: Iterable[str], *, exact: bool = False) -> None:
        """Probe the endpoints ``names`` (known to the job) in this order; see FeedWriter.plan."""
        with self._lock:
            if self._closing.is_set() or self._exact:
                return
            self._exact = exact
        self._outbox.put(json.dumps({"plan": [name for name in names if name in self._known], "exact": exact}))

    def stop(self, *, wait: float = 1.0) -> dict[str, dict[str, Any]]:
        """End the probing: what has not started is dropped, what has gets ``wait`` seconds. Returns the circuits'
        statistics once the child has sent them, without waiting for its interpreter to exit (:meth:`close`
        does): the run's reports are written meanwhile. A child silent for ``STOP_GRACE_S`` more is killed."""
        with self._lock:
            stopping = not self._closing.is_set()
            self._closing.set()
        if stopping:
            self._outbox.put(json.dumps({"stop": wait}))
            self._outbox.put(_END)
            if not self._reported.wait(wait + STOP_GRACE_S):
                self._child.kill()  # a sender blocked on its full pipe gets a broken pipe
        return self._take_statistics()

    def close(self, *, wait: float = 1.0) -> dict[str, dict[str, Any]]:
        """:meth:`stop`, then wait for the child to exit (killed after ``STOP_GRACE_S``). Returns the circuits'
        statistics unless :meth:`stop` already did."""
        statistics = self.stop(wait=wait)
        _end(self._child)
        for thread in (self._sender, self._reader, self._watcher):
            thread.join(STOP_GRACE_S)
        self._errors.close()
        return statistics

    def _take_statistics(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            taken, self._statistics_taken = self._statistics_taken, True
        return {} if taken else self._statistics

    def _start(self, before: Callable[[], None] | None) -> None:
        message: dict[str, Any] = {"go": True}
        try:
            if before is not None:
                before()
        except ProbeError as exc:
            message = {"error": str(exc)}
        except Exception as exc:  # a bug in the start must not send probes to a target that is not up
            message = {"error": self._redact(f"could not start the target: {type(exc).__name__}: {exc}")}
        finally:
            self._outbox.put(json.dumps(message))

    def _send(self) -> None:
        """Write the outbox to the child's input: only this thread waits on the pipe."""
        stdin = self._child.stdin
        assert stdin is not None
        try:
            while (line := self._outbox.get()) is not _END:
                stdin.write(line + "\n")
                stdin.flush()
        except (OSError, ValueError):
            pass  # the child is gone (or was killed, its input closed): the watcher says so in the feed
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _read(self) -> None:
        """The child's standard output, to its end: the line that holds the circuits' statistics is its report."""
        stdout = self._child.stdout
        assert stdout is not None
        try:
            with contextlib.suppress(OSError, ValueError), stdout:
                for line in stdout:
                    circuits = _circuits_in(line)
                    if circuits is not None:
                        self._statistics = circuits
                        self._reported.set()
        finally:
            self._reported.set()  # the output ended: nothing more will come

    def _watch(self) -> None:
        """A child that ends before it was told to leaves the reason in the feed, for the workers to read."""
        status = self._child.wait()
        if self._closing.is_set():
            return
        reason = self._redact(_last_line(self._errors)) or "no message"
        _append(self.path, {"error": f"the endpoint probe process ended early (exit status {status}): {reason}"})


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """The child: probe as the parent's lines say, then print the circuits' statistics (one JSON line)."""
    _import_probing()
    first = stdin.readline()
    if not first:
        return 0  # the parent closed at once
    job = json.loads(first)
    from pytest_aide.probes.endpoints import EndpointSpec
    from pytest_aide.probes.feed import FeedWriter

    registry, client = _client(job)
    endpoints = {data["name"]: EndpointSpec(**data) for data in job["endpoints"]}
    started = threading.Event()
    refusal: list[str] = []

    def before() -> None:
        started.wait()
        if refusal:
            raise ProbeError(refusal[0])

    writer = FeedWriter(Path(job["path"]), client, concurrency=job["concurrency"], before=before)
    wait = 1.0
    for line in stdin:
        message = json.loads(line)
        if "stop" in message:
            wait = float(message["stop"])
        elif "plan" in message:
            writer.plan((endpoints[name] for name in message["plan"]), exact=message["exact"])
        elif "error" in message:
            refusal.append(message["error"])
            started.set()
        elif "go" in message:
            started.set()
    if not started.is_set():  # the run ended before the target was up: probe nothing
        refusal.append("the run ended before the endpoints could be probed")
        started.set()
    writer.stop(wait=wait)
    # The parent waits for this line before it writes the run's reports: sent before the client's connections
    # are closed.
    stdout.write(json.dumps({"circuits": registry.statistics() if registry is not None else {}}) + "\n")
    stdout.flush()
    writer.close(wait=0)
    return 0


def _import_probing() -> None:
    """What probing takes, imported before the job is read: a child started early (:class:`ProbeChild`) boots
    while its parent still loads its configuration, and its first probe goes out as soon as the job comes."""
    import requests  # noqa: F401  (the client imports it at its first request)

    from pytest_aide import dependencies  # noqa: F401
    from pytest_aide.probes import feed  # noqa: F401
    from pytest_aide.resilience import registry  # noqa: F401


def _client(job: Mapping[str, Any]) -> tuple[Any, Any]:
    """The child's HttpClient (and its breaker registry, None when the circuits are off)."""
    from pytest_aide.probes.http import HttpClient
    from pytest_aide.redact import Redactor

    redactor = Redactor(job["secrets"])
    circuits = job["circuits"]
    if circuits is None:
        return None, HttpClient(**job["client"], redactor=redactor)
    from pytest_aide.dependencies import Dependency, http_lookup
    from pytest_aide.resilience import BreakerPolicy, BreakerRegistry

    registry = BreakerRegistry(BreakerPolicy(**circuits["policy"]), redact=redactor)
    threshold = circuits["failure_threshold"]
    dependency_for = http_lookup(
        circuits["app_url"], lambda kind, name: Dependency(kind, registry.get(name, failure_threshold=threshold))
    )
    return registry, HttpClient(**job["client"], redactor=redactor, dependency_for=dependency_for)


def _circuits_in(line: str) -> dict[str, dict[str, Any]] | None:
    """The circuits' statistics in a line of the child's output, None when it holds none."""
    try:
        found = json.loads(line)
    except ValueError:
        return None
    circuits = found.get("circuits") if isinstance(found, dict) else None
    return circuits if isinstance(circuits, dict) else None


def _last_line(file: BinaryIO) -> str:
    try:
        file.seek(0)
        lines = file.read().decode("utf-8", errors="replace").strip().splitlines()
    except (OSError, ValueError):
        return ""
    return lines[-1].strip() if lines else ""


def _append(path: Path, line: dict[str, Any]) -> None:
    try:
        with open(path, "a", encoding="utf-8") as feed:
            feed.write(json.dumps(line) + "\n")
    except OSError:
        pass  # the run's folder is gone: nobody is left to read it


if __name__ == "__main__":
    sys.exit(main())
