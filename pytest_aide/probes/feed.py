"""Endpoint probes handed from one process to others as each arrives, through a JSON-lines file.

Under xdist every endpoint of the run is probed once for all workers (:class:`FeedWriter`, run by the
controller's probe process: :mod:`pytest_aide.probes.feed_process`), and each result is appended
to the file as soon as it is in; a worker's check reads its own endpoint's line (:class:`ProbeFeed`) and waits
for nothing else, so the workers check while the probing goes on. The writer may start before the workers
have collected (a guess at the selection) and be narrowed to exactly what they collected later.

A reader never hangs on a stalled writer: when the file has not grown for ``idle_limit`` seconds, every probe
still missing is a ProbeError. A probe in flight ends within the client's timeouts, so while any probe runs
the file grows at least that often.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from pytest_aide.errors import ProbeError
from pytest_aide.probes.endpoints import EndpointSpec, probe_endpoint
from pytest_aide.probes.http import HttpClient, HttpProbe

_POLL_FIRST_S = 0.001
_POLL_MAX_S = 0.005  # a waiting check learns of its probe at most this late
IDLE_SLACK_S = 5.0  # on top of the probe timeouts: a loaded machine may delay a finished probe's line


def idle_limit(*, connect_timeout: float, read_timeout: float, start_timeout: float = 0.0) -> float:
    """How long a reader accepts a file that does not grow: two probe budgets, the target's start, slack."""
    return 2 * (connect_timeout + read_timeout) + start_timeout + IDLE_SLACK_S


def _feed_line(data: dict[str, Any]) -> bytes:
    """One record of the feed: compact JSON on a line of its own."""
    return (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8")


def end_feed(path: Path, reason: str) -> None:
    """Tell every reader still waiting that no more probes will come (the run stopped early): each waiting check
    fails at once with ``reason`` instead of holding its worker, and xdist's shutdown, until ``idle_limit``.
    Call it once the writer has stopped; appending a line to a file that is gone does nothing."""
    line = _feed_line({"error": reason})
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # never creates it: a run that fed nothing has no readers
    except FileNotFoundError:
        return
    with os.fdopen(fd, "wb") as file:
        file.write(line)


class FeedWriter:
    """Probes endpoints in daemon threads, at most ``concurrency`` at a time and in the order planned, and
    appends each result to ``path`` as one JSON line.

    ``before`` (e.g. starting the target) runs at once in a thread of its own; probes start after it, and when
    it raises ProbeError the feed carries that error instead of probes. The probing threads are started in the
    background too (by that thread, or by one started for a later plan), so neither the constructor nor
    :meth:`plan` waits for up to ``concurrency`` thread starts: the xdist controller calls them just before it
    starts its workers. The threads are daemons: a probe that hangs cannot keep the process from exiting.
    """

    def __init__(
        self,
        path: Path,
        client: HttpClient,
        *,
        concurrency: int,
        before: Callable[[], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.path = path
        self._client = client
        self._concurrency = concurrency
        self._file: BinaryIO = open(path, "ab")  # noqa: SIM115 (closed by close(), after the threads)
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending: deque[EndpointSpec] = deque()
        self._planned: set[str] = set()
        self._exact = False
        self._closed = False
        self._workers: list[threading.Thread] = []
        self._wanted = 0  # probing threads the plans call for (never fewer than before)
        self._may_grow = False  # set once ``before`` is done: from then on a plan starts its own threads
        self._ready = threading.Event()
        self._starter = threading.Thread(target=self._start, args=(before,), name="aide-feed-start", daemon=True)
        self._starter.start()

    @property
    def exact(self) -> bool:
        """Whether the plan is the selection the workers collected (no longer a guess)."""
        return self._exact

    def plan(self, specs: Iterable[EndpointSpec], *, exact: bool = False) -> None:
        """Probe ``specs`` in this order. A guess (``exact=False``) adds what is not planned yet; the exact
        selection drops what is planned and not started but not in it, and puts the rest in its order. Once
        exact, later plans are ignored."""
        specs = list(specs)
        with self._cond:
            if self._closed or self._exact:
                return
            if exact:
                queued = {spec.name for spec in self._pending}
                self._pending = deque(s for s in specs if s.name in queued or s.name not in self._planned)
                self._exact = True
            else:
                self._pending.extend(s for s in specs if s.name not in self._planned)
            self._planned.update(spec.name for spec in specs)
            self._wanted = max(self._wanted, min(self._concurrency, len(self._pending)))
            grow = self._may_grow and len(self._workers) < self._wanted
            self._cond.notify_all()
        self._emit({"plan": [spec.name for spec in specs], "exact": exact})
        if grow:
            threading.Thread(target=self._grow, name="aide-feed-grow", daemon=True).start()

    def stop(self, *, wait: float = 1.0) -> bool:
        """Cancel what has not started and wait up to ``wait`` seconds for what has: True when every probe has
        ended (the circuits' counts are final then)."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + wait
        with self._cond:
            threads = (self._starter, *self._workers)
        for thread in threads:
            if thread.is_alive():  # one a grower has not started yet never probes: the feed is closed
                thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def close(self, *, wait: float = 1.0) -> None:
        """:meth:`stop`, then close the client (when no probe is left in it) and the file."""
        if self.stop(wait=wait):
            self._client.close()
        with self._write_lock:
            self._file.close()

    def _start(self, before: Callable[[], None] | None) -> None:
        try:
            if before is not None:
                before()
        except ProbeError as exc:
            self._emit({"error": str(exc)})
            with self._cond:
                self._closed = True
                self._cond.notify_all()
        finally:
            self._ready.set()
            with self._cond:
                self._may_grow = True
            self._grow()

    def _grow(self) -> None:
        """Start probing threads until there are as many as the plans call for (or the feed is closed)."""
        while True:
            with self._cond:
                if self._closed or len(self._workers) >= self._wanted:
                    return
                worker = threading.Thread(target=self._work, name="aide-feed-probe", daemon=True)
                self._workers.append(worker)
            worker.start()

    def _work(self) -> None:
        self._ready.wait()
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                spec = self._pending.popleft()
            try:
                line: dict[str, Any] = {"name": spec.name, "probe": probe_endpoint(self._client, spec).to_dict()}
            except Exception as exc:  # a bug must cost one endpoint, not leave its reader waiting
                line = {"name": spec.name, "error": f"{type(exc).__name__}: {exc}"}
            self._emit(line)

    def _emit(self, line: dict[str, Any]) -> None:
        data = _feed_line(line)
        with self._write_lock:
            if not self._file.closed:
                self._file.write(data)
                self._file.flush()


class ProbeFeed(Mapping[str, HttpProbe]):
    """The probes of ``names`` as a :class:`FeedWriter` delivers them to ``path``; reading one waits for that
    one only, and raises ProbeError once the file has not grown for ``idle_limit`` seconds."""

    def __init__(self, path: Path, names: Iterable[str], *, idle_limit: float) -> None:
        self._path = path
        self._names = dict.fromkeys(names)  # ordered, and a set for membership
        self._idle_limit = idle_limit
        self._results: dict[str, HttpProbe | str] = {}
        self._error: str | None = None
        self._offset = 0
        self._partial = b""

    def __getitem__(self, name: str) -> HttpProbe:
        pause = _POLL_FIRST_S
        found = self._results.get(name)  # an earlier read may hold it: no file access for most checks
        while True:
            if found is None:
                self._read()
                found = self._results.get(name)
            if isinstance(found, HttpProbe):
                return found
            if found is not None:
                raise ProbeError(f"endpoint {name!r}: {found}")
            if self._error is not None:
                raise ProbeError(self._error)
            idle = self._idle_s()
            if idle > self._idle_limit:
                raise ProbeError(
                    f"endpoint {name!r}: no result from the xdist controller: nothing arrived for {idle:.0f} s,"
                    f" longer than its probe timeouts allow ({self._idle_limit:g} s); a probe hangs there"
                )
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX_S)

    def __contains__(self, name: object) -> bool:
        return name in self._names  # without waiting for the probe

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def _idle_s(self) -> float:
        try:
            return time.time() - os.stat(self._path).st_mtime
        except FileNotFoundError:
            raise ProbeError(f"the endpoint probes of this run ({self._path.name}) are gone") from None

    def _read(self) -> None:
        try:
            with open(self._path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            raise ProbeError(f"the endpoint probes of this run ({self._path.name}) are gone") from None
        if not data:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for raw in lines:
            self._take(json.loads(raw))

    def _take(self, line: dict[str, Any]) -> None:
        if "error" in line and "name" not in line:
            self._error = line["error"]
        elif "probe" in line:
            self._results[line["name"]] = HttpProbe(**line["probe"])
        elif "error" in line:
            self._results[line["name"]] = line["error"]
