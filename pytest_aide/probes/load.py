"""A load probe: N requests to one path, C at a time, timed; latency percentiles, throughput and error rate.

Each of ``concurrency`` threads takes the next request's ticket and sends it through one pooled
:class:`~pytest_aide.probes.http.HttpClient` (a connection per thread, kept alive). Every request is bounded by
the client's timeouts (the whole response within connect + read timeout); no request starts after
``deadline`` seconds, so the probe ends by ``deadline`` + one request's budget, however the server behaves
(:func:`run_load` gives up waiting a second after that and reports the stragglers).

Measured throughput can never exceed ``concurrency / latency``: with 8 requests at a time and 0.1 s each, at
most 80 requests a second go through, however fast the server could go with more clients. The thresholds
judging it must fit the configured concurrency (README, "Load probe").

The probe returns facts (:class:`LoadResult`); the check records them against the thresholds.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_aide.percentiles import percentile
from pytest_aide.probes.http import HttpClient, HttpProbe

_GRACE_S = 1.0  # beyond deadline + one request's budget before the probe stops waiting for its threads
_ERROR_KINDS = 3  # distinct error texts kept for the report


@dataclass(frozen=True)
class LoadResult:
    """What a load probe saw. Latencies are those of whole responses (any status); failed requests (wrong
    status, timeout, refused) count in the error rate, and only successful ones in the throughput."""

    url: str
    concurrency: int
    planned: int
    sent: int  # requests started (fewer than planned when the deadline came first)
    failed: int
    elapsed_s: float
    latencies_s: Sequence[float] = field(repr=False)
    errors: dict[str, int] = field(default_factory=dict)  # the most frequent error texts and their counts
    deadline_reached: bool = False
    unfinished: int = 0  # requests still waiting when the probe gave up on them (counted as failed)

    @property
    def succeeded(self) -> int:
        return self.sent - self.failed

    @property
    def error_rate_percent(self) -> float:
        return 100.0 * self.failed / self.sent if self.sent else 0.0

    @property
    def throughput_ops(self) -> float:
        """Successful requests per second of the probe's wall-clock time."""
        return self.succeeded / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, fraction: float) -> float | None:
        """The latency at ``fraction`` (0.5, 0.95, 0.99); None when no response came back whole."""
        return percentile(self.latencies_s, fraction) if self.latencies_s else None

    @property
    def bound_ops(self) -> float | None:
        """The most the concurrency allows at the median latency: concurrency / p50."""
        p50 = self.percentile(0.5)
        return self.concurrency / p50 if p50 else None

    def summary(self) -> str:
        """One line: what was sent and what came back."""
        text = f"{self.sent} of {self.planned} requests, {self.concurrency} at a time, in {self.elapsed_s:.2f} s"
        if self.deadline_reached:
            text += " (deadline reached: no request started after it)"
        if self.unfinished:
            text += f"; {self.unfinished} still unanswered when the probe stopped waiting"
        return text


class LoadProbe:
    """The ``aide_load`` fixture's object: runs load probes of one app, each over a client of its own (a pool
    of ``concurrency`` connections, the request timeout given) from ``make_client(pool_size, read_timeout)``."""

    def __init__(self, make_client: Callable[[int, float | None], HttpClient]) -> None:
        self._make_client = make_client

    def run(
        self,
        path: str,
        *,
        concurrency: int,
        requests: int,
        deadline: float,
        timeout: float | None = None,
        expect_status: int | None = 200,
    ) -> LoadResult:
        """Load ``path`` (see :func:`run_load`); ``timeout``: seconds each request may take (default: [app])."""
        with self._make_client(concurrency, timeout) as client:
            return run_load(
                client, path, concurrency=concurrency, requests=requests, deadline=deadline, expect_status=expect_status
            )


class _Tickets:
    """Hands out request numbers until the plan is done, the deadline has passed or the probe is stopped."""

    def __init__(self, planned: int, stop_at: float, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._planned, self._stop_at, self._clock = planned, stop_at, clock
        self.issued = 0
        self.deadline_reached = False
        self.stopped = threading.Event()

    def take(self) -> bool:
        with self._lock:
            if self.stopped.is_set() or self.issued >= self._planned:
                return False
            if self._clock() >= self._stop_at:
                self.deadline_reached = True
                return False
            self.issued += 1
            return True


def run_load(
    client: HttpClient,
    path: str,
    *,
    concurrency: int,
    requests: int,
    deadline: float,
    expect_status: int | None = 200,
    clock: Callable[[], float] = time.monotonic,
) -> LoadResult:
    """Send ``requests`` GETs of ``path``, ``concurrency`` at a time, none started after ``deadline`` seconds."""
    if concurrency < 1 or requests < 1 or deadline <= 0:
        raise ValueError("concurrency and requests must be at least 1, deadline above 0")
    tickets = _Tickets(requests, clock() + deadline, clock)
    probes: list[HttpProbe] = []
    lock = threading.Lock()

    def worker() -> None:
        while tickets.take():
            probe = client.probe(path, expect_status=expect_status, name="load")
            with lock:
                probes.append(probe)

    threads = [threading.Thread(target=worker, name=f"aide-load-{n}", daemon=True) for n in range(concurrency)]
    give_up = clock() + deadline + client.connect_timeout + client.read_timeout + _GRACE_S
    began = time.perf_counter()
    try:
        for thread in threads[:requests]:
            thread.start()
        for thread in threads[:requests]:
            thread.join(max(0.0, give_up - clock()))
    finally:
        tickets.stopped.set()  # an interrupted probe (the check's time limit) starts nothing more
    elapsed = time.perf_counter() - began
    with lock:
        done = list(probes)
    unfinished = tickets.issued - len(done)
    return _result(path, concurrency, requests, tickets, done, elapsed, unfinished)


def _result(
    url: str, concurrency: int, planned: int, tickets: _Tickets, done: list[HttpProbe], elapsed: float, unfinished: int
) -> LoadResult:
    errors = Counter(probe.error for probe in done if probe.error)
    if unfinished:
        errors["no answer before the probe's deadline"] += unfinished
    return LoadResult(
        url=done[0].url if done else url,  # the probes' URL is redacted; without one, the path as configured
        concurrency=concurrency,
        planned=planned,
        sent=tickets.issued,
        failed=sum(1 for probe in done if not probe.ok) + unfinished,
        elapsed_s=elapsed,
        latencies_s=tuple(probe.elapsed_s for probe in done if probe.complete),
        errors=dict(errors.most_common(_ERROR_KINDS)),
        deadline_reached=tickets.deadline_reached,
        unfinished=unfinished,
    )
