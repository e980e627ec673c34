"""Shared by the benchmarks: an operator's install of pytest-aide, and interleaved timing of commands.

An operator's install is a virtualenv with the package installed from its wheel (not editable) and no test
extras, so no hypothesis plugin and no development tools. :func:`operator_python` builds one from the working
tree (or from ``$AIDE_BENCH_SOURCE``, another checkout to compare) in a cache folder (``$AIDE_BENCH_CACHE``,
default ``~/.cache/aide-bench``), keyed by a digest of the package's sources, and reuses it while the sources
are unchanged.

:func:`interleave` runs the compared commands in turns (A B, then B A, ...), so load from other jobs on the
machine falls on every side alike, and keeps every sample: the benchmarks report medians, bests and the median
of the per-round ratios.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(os.environ.get("AIDE_BENCH_SOURCE") or Path(__file__).resolve().parent.parent)  # what gets installed
CACHE = Path(os.environ.get("AIDE_BENCH_CACHE") or Path.home() / ".cache" / "aide-bench")

# Variables of a development shell that an operator's cron job does not have, and that change what is measured.
_DEV_VARIABLES = (
    "PYTHONDONTWRITEBYTECODE",  # without bytecode caches every run re-compiles and re-rewrites every module
    "PYTHONPATH",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
    "AIDE_CONFIG",
    "VIRTUAL_ENV",
)


_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "reports", ".*_cache", "backups")


def operator_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmarked run: this one, less the variables of a development shell."""
    env = {key: value for key, value in os.environ.items() if key not in _DEV_VARIABLES}
    # An operator's own cache of validated configurations, not one that test runs beside the bench keep
    # churning (pytest_aide.validated): a stale miss would time pydantic instead of the run.
    env["AIDE_CACHE_DIR"] = str(CACHE / "aide-cache")
    env.update(extra or {})
    return env


def source_digest() -> str:
    """A digest of what goes into the wheel: the package's files and ``pyproject.toml``."""
    digest = hashlib.sha256()
    files = [p for p in (REPO / "pyproject.toml", REPO / "README.md", REPO / "docs" / "pypi.md") if p.is_file()]
    files += sorted(p for p in (REPO / "pytest_aide").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _run(args: Sequence[str], what: str, timeout: float = 900) -> None:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise SystemExit(f"bench: {what} failed (exit {done.returncode}):\n{tail}")


def operator_python(*, with_aide: bool = True, python: str | None = None) -> Path:
    """The interpreter of an operator's install (built on first use), or ``python`` if given.

    ``with_aide=False`` gives the same install less pytest-aide itself (every dependency stays), the
    reference for "what does merely having the package installed cost".
    """
    if python:
        return Path(python)
    kind = "with-aide" if with_aide else "without-aide"
    key = source_digest()
    venv = CACHE / f"{kind}-{key}"  # one per kind: a source change replaces the old one
    interpreter = venv / "bin" / "python"
    if (venv / ".ready").exists():
        return interpreter
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in sorted(CACHE.glob(f"{kind}-*"), key=lambda p: p.stat().st_mtime)[:-6]:  # keep the newest few
        shutil.rmtree(stale, ignore_errors=True)
    print(f"bench: building an operator install ({kind}) in {venv} ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="aide-wheel-") as scratch:
        # Built from a clean copy: setuptools' build/ folder in the tree can hold stale modules, and the shared
        # working tree gets no build/ or egg-info of ours.
        source = Path(scratch) / "src"
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
        wheels = Path(scratch) / "wheels"
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)], "building")
        wheel = next(wheels.glob("pytest_aide-*.whl"))
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(venv)], "creating the virtualenv")
        pip = [str(interpreter), "-m", "pip", "-q", "--disable-pip-version-check"]
        _run([*pip, "install", str(wheel)], "installing the wheel")
        if not with_aide:
            _run([*pip, "uninstall", "-y", "pytest-aide"], "uninstalling pytest-aide")
    (venv / ".ready").write_text(key + "\n", encoding="utf-8")
    return interpreter


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds, CPU seconds of the process and its children, exit status, output."""

    wall: float
    cpu: float
    returncode: int
    output: str


def run_timed(args: Sequence[str], cwd: Path, *, env: Mapping[str, str] | None = None, timeout: float = 600) -> Sample:
    """Run ``args`` in ``cwd`` and time it (output captured to a file, as under cron)."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        proc = subprocess.Popen(
            list(args), cwd=cwd, env=dict(env or operator_environ()), stdout=out, stderr=subprocess.STDOUT
        )
        # A blocking wait, with a timer that kills a hung run: Popen.wait(timeout=...) (and so subprocess.run's
        # timeout) polls with sleeps of up to 50 ms, which put every wall time on a 50 ms grid.
        hung = threading.Event()

        def stop() -> None:
            hung.set()
            proc.kill()

        timer = threading.Timer(timeout, stop)
        timer.start()
        try:
            returncode = proc.wait()
        finally:
            timer.cancel()
        wall = time.perf_counter() - began
        if hung.is_set():
            returncode = -1
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        output = out.read()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu, returncode, output)


@dataclass
class Series:
    """The samples of one command over the rounds."""

    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return [s.wall for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def cpu_median(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    def line(self) -> str:
        walls = " ".join(f"{w:.2f}" for w in self.walls)
        return (
            f"{self.label}: median {self.median:.3f} s, best {self.best:.3f} s, CPU median {self.cpu_median:.3f} s"
            f"  [{walls}]"
        )


def interleave(
    commands: Mapping[str, Callable[[], Sample]],
    rounds: int,
    *,
    warmup: int = 1,
    check: Callable[[str, Sample], str | None] | None = None,
) -> dict[str, Series]:
    """Run every command ``rounds`` times in turns, the order reversed every other round.

    ``warmup`` untimed rounds come first (bytecode caches, the page cache). ``check`` may return an error for
    a sample (a failed run); the benchmark stops at once with it rather than time a broken run.
    """
    labels = list(commands)
    series = {label: Series(label) for label in labels}
    for number in range(-warmup, rounds):
        order = labels if number % 2 == 0 else labels[::-1]
        for label in order:
            sample = commands[label]()
            problem = check(label, sample) if check else None
            if problem is None and sample.returncode != 0:
                problem = f"exit status {sample.returncode}"
            if problem is not None:
                tail = "\n  ".join(sample.output.strip().splitlines()[-25:])
                raise SystemExit(f"bench: {label} run failed: {problem}\n  {tail}")
            if number >= 0:
                series[label].samples.append(sample)
        if number >= 0:
            shown = ", ".join(f"{label} {series[label].samples[-1].wall:.2f} s" for label in labels)
            print(f"  round {number + 1}/{rounds}: {shown}", flush=True)
    return series


def paired_ratios(numerator: Series, denominator: Series) -> list[float]:
    """Per-round ratios: each pair ran back to back, so they saw about the same load."""
    return [a.wall / b.wall for a, b in zip(numerator.samples, denominator.samples, strict=True)]


def paired_differences(first: Series, second: Series) -> list[float]:
    return [a.wall - b.wall for a, b in zip(first.samples, second.samples, strict=True)]


def instruction_count(args: Sequence[str], cwd: Path, *, env: Mapping[str, str] | None = None) -> int:
    """Instructions executed by ``args`` and its children, counted by valgrind (callgrind): about 40x slower
    than a normal run, but the same count however busy the machine is, so it shows small differences that
    wall times on a shared machine hide. Hash randomisation is fixed so two runs take the same paths."""
    if shutil.which("valgrind") is None:
        raise SystemExit("bench: --instructions needs valgrind (apt-get install valgrind)")
    environ = {**(env or operator_environ()), "PYTHONHASHSEED": "0"}
    command = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--callgrind-out-file=/dev/null", *args]
    done = subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=3600, check=False)
    counts = re.findall(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or not counts:
        raise SystemExit(f"bench: counting instructions of {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return sum(int(count.replace(",", "")) for count in counts)


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}: {text}"
