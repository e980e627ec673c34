"""Benchmark: ``reports/index.html`` with charts stays fast and small with 1,000 archived runs.

    .venv/bin/python bench/bench_index.py [--runs 1000] [--checks 50] [--rounds 5] [--bound-s 0.3]
                                          [--bound-cold-s 5] [--bound-mb 1.5] [--browser] [--bound-browser-s 3]

Builds a throw-away archive of ``--runs`` runs, one every 6 hours, each a health.json of ``--checks`` checks
(the shipped suite's key measurements among them; some runs partial, some failing, a few measuring "not a
number", the log check missing from some), then measures, with the code of this source tree:

- **per run** (the bound ``--bound-s``, on the CPU time of this process: the wall time beside it swings with
  the load of a shared machine): what each run pays after archiving itself, ``write_index`` with the cache of
  the earlier runs and one new run (its health.json known, as the reporter passes it);
- **cold** (``--bound-cold-s``): ``write_index`` without a cache (the first run after an upgrade parses every
  archived health.json once);
- **render**: ``render_index`` alone over the records (the charts and the table);
- **size** (``--bound-mb``): the bytes of index.html;
- **browser** (``--browser``, Debian's ``chromium``): headless Chromium loading the index and taking a
  screenshot, minus the same for an empty page (``--bound-browser-s``).

Prints every sample, the median, and a PASS/FAIL line per bound; exits 0 only when all pass.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_aide import archive_index  # the source tree's, beside this script

START = datetime(2026, 1, 1, tzinfo=UTC)
METRICS = {  # name -> (unit, warning, critical, typical value)
    "response_time_s": ("s", "1", "3", 0.25),
    "cpu_percent": ("%", "70", "85", 35.0),
    "memory_percent": ("%", "80", "90", 60.0),
    "disk_percent": ("%", "80", "90", 50.0),
    "new_log_errors": ("entries", "10", None, 2.0),
}


def health(index: int, checks: int, rng: random.Random) -> dict[str, Any]:
    """One synthetic run: the key measurements drift and spike; the other checks record a number each."""
    started = START + timedelta(hours=6 * index)
    partial = index % 17 == 5
    results = []
    for name, (unit, warning, critical, typical) in METRICS.items():
        if name == "new_log_errors" and index % 9 == 0:
            continue  # the log check did not run
        value = typical * (1 + index / 2000) * rng.uniform(0.6, 1.4) * (2.5 if rng.random() < 0.03 else 1)
        value = min(value, 99.5) if unit == "%" else value
        if name == "response_time_s" and index % 211 == 3:
            value = math.nan
        status = "CRITICAL" if math.isnan(value) or (critical and value > float(critical)) else "OK"
        status = "WARNING" if status == "OK" and value > float(warning) else status
        measurement = {"value": value, "unit": unit, "status": status, "warning": warning, "critical": critical}
        results.append(
            {"nodeid": f"aide/check_{name}.py::check", "status": status, "measurements": {name: measurement}}
        )
    for number in range(checks - len(results)):
        value = rng.uniform(0, 100)
        measurement = {"value": value, "unit": "", "status": "OK", "warning": None, "critical": None}
        results.append(
            {
                "nodeid": f"aide/check_other.py::check_{number}",
                "status": "OK",
                "message": "",
                "measurements": {f"other_{number}": measurement},
                "duration": 0.01,
            }
        )
    worst = max((r["status"] for r in results), key=["OK", "WARNING", "CRITICAL"].index)
    verdict, score = {"OK": ("HEALTHY", 100.0), "WARNING": ("DEGRADED", 88.0), "CRITICAL": ("UNHEALTHY", 62.5)}[worst]
    counts = {key: sum(r["status"] == key for r in results) for key in ("OK", "WARNING", "CRITICAL")}
    return {
        "schema": "pytest-aide/health/1",
        "run_id": started.strftime("%Y%m%d-%H%M%S-000000"),
        "started": started.isoformat(timespec="seconds"),
        "finished": (started + timedelta(seconds=30)).isoformat(timespec="seconds"),
        "selection": "" if partial else "daily",
        "partial": partial,
        **({"partial_reason": "-k disk"} if partial else {}),
        "status": verdict,
        "score": score,
        "counts": {**counts, "UNKNOWN": 0, "SKIPPED": 0},
        "coverage": {"measured": len(results), "selected": len(results)},
        "checks": results,
    }


def build_archive(root: Path, runs: int, checks: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    documents = [health(index, checks, rng) for index in range(runs + 1)]
    for data in documents[:runs]:
        folder = root / data["run_id"]
        folder.mkdir()
        (folder / "health.json").write_text(json.dumps(data))
        (folder / "health.html").write_text("x")
    return documents


def one_more_run(root: Path, newest: dict[str, Any]) -> tuple[float, float]:
    """Wall and CPU seconds of ``write_index`` after ``newest`` archived itself, the cache holding every earlier run."""
    folder = root / newest["run_id"]
    shutil.rmtree(folder, ignore_errors=True)
    archive_index.write_index(root)  # untimed: the cache as the previous run left it
    folder.mkdir()
    (folder / "health.json").write_text(json.dumps(newest))
    began, cpu = time.perf_counter(), time.process_time()
    archive_index.write_index(root, known={folder.name: newest})
    return time.perf_counter() - began, time.process_time() - cpu


def timed(function: Callable[[], object], rounds: int, label: str) -> float:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        function()
        samples.append(time.perf_counter() - began)
    median = statistics.median(samples)
    print(f"{label}: " + " ".join(f"{s:.3f}" for s in samples) + f" s; median {median:.3f} s")
    return median


def browser_seconds(chromium: str, page: Path, blank: Path, rounds: int, work: Path) -> float:
    """Median of (load + screenshot of ``page``) - (the same for ``blank``), taken in turns."""

    def shot(target: Path) -> float:
        began = time.perf_counter()
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={work}",
                "--window-size=1280,4000",
                f"--screenshot={work / 'shot.png'}",
                target.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return time.perf_counter() - began

    shot(blank)  # warm-up: the profile and the browser's files
    differences = [shot(page) - shot(blank) for _ in range(rounds)]
    median = statistics.median(differences)
    print("browser (index - blank page): " + " ".join(f"{d:.3f}" for d in differences) + f" s; median {median:.3f} s")
    return median


def verdict(name: str, value: float, bound: float, unit: str) -> bool:
    ok = value <= bound
    print(f"{'PASS' if ok else 'FAIL'} {name}: {value:.3f} {unit} <= {bound:g} {unit}")
    return ok


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="archived runs (default 1000)")
    parser.add_argument("--checks", type=int, default=50, help="checks per run (default 50)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each measurement (default 5)")
    parser.add_argument("--bound-s", type=float, default=0.3, help="max CPU seconds per run, with the cache (0.3)")
    parser.add_argument("--bound-cold-s", type=float, default=5.0, help="max seconds without a cache (5)")
    parser.add_argument("--bound-mb", type=float, default=1.5, help="max size of index.html in MB (default 1.5)")
    parser.add_argument("--browser", action="store_true", help="also time headless Chromium opening the index")
    parser.add_argument("--bound-browser-s", type=float, default=3.0, help="max added browser seconds (3)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aide-bench-index-") as name:
        root = Path(name) / "reports"
        root.mkdir()
        documents = build_archive(root, args.runs, args.checks)
        print(f"{args.runs} archived runs of {args.checks} checks each in {root}")

        def cold() -> None:
            (root / archive_index.CACHE_NAME).unlink(missing_ok=True)
            archive_index.write_index(root)

        newest = documents[-1]
        cold_s = timed(cold, args.rounds, "cold write_index (no cache)")
        samples = [one_more_run(root, newest) for _ in range(args.rounds)]
        per_run_s = statistics.median(wall for wall, _cpu in samples)
        per_run_cpu = statistics.median(cpu for _wall, cpu in samples)
        print(
            "per run write_index (cache + 1 new run), wall/CPU: "
            + " ".join(f"{wall:.3f}/{cpu:.3f}" for wall, cpu in samples)
            + f" s; median wall {per_run_s:.3f} s, CPU {per_run_cpu:.3f} s"
        )
        rows = archive_index.index_rows(root)
        render_s = timed(lambda: archive_index.render_index(rows), args.rounds, "render_index alone")
        size_mb = (root / "index.html").stat().st_size / 1e6
        print(f"index.html: {size_mb:.3f} MB ({len(rows)} runs; render {render_s:.3f} s)")
        results = [
            verdict("per run (CPU)", per_run_cpu, args.bound_s, "s"),
            verdict("cold", cold_s, args.bound_cold_s, "s"),
            verdict("size", size_mb, args.bound_mb, "MB"),
        ]
        if args.browser:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            if chromium is None:
                print("FAIL browser: Debian's chromium is not installed")
                return 1
            blank = Path(name) / "blank.html"
            blank.write_text("<!DOCTYPE html><title>blank</title><p>blank</p>")
            profile = Path(name) / "chromium"
            profile.mkdir()
            seconds = browser_seconds(chromium, root / "index.html", blank, args.rounds, profile)
            results.append(verdict("browser", seconds, args.bound_browser_s, "s"))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
