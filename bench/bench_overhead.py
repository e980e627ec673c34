"""Benchmark: the per-check cost of pytest-aide against plain pytest writing the same kind of reports.

    .venv/bin/python bench/bench_overhead.py [--checks 1000] [--rounds 7] [--history 30] [--bound 1.2]
        [--instructions] [--python PATH]

Two throw-away projects of ``--checks`` trivial parametrized cases each, run in an operator's install (see
``operator_env.py``) in turns:

- **plain**: a project without ``aide.toml``, ``pytest -p no:aide --junitxml=junit.xml --html=report.html
  --self-contained-html test_trivial.py``;
- **aide**: an ``aide.toml`` project, ``pytest check_trivial.py``: aide's verdict and its archived run
  (report.html, junit.xml, health.json and whatever else aide archives) plus the regenerated index of all runs.

The archive holds ``--history`` earlier runs of the same size (a month of daily runs by default) before each
timed aide run, and the run it adds is removed again afterwards, so every round sees the same archive.
The bound: the median of the per-round ratios aide/plain is at most ``--bound``. Exit 0 only then.
``--instructions`` also runs each side once under valgrind and prints the ratio of instructions executed: it
does not depend on the load of a shared machine, so it tells a real change from noise.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import operator_env as ops  # the benchmarks' shared helpers, beside this script

TEST_FILE = """import pytest


@pytest.mark.parametrize("i", range({checks}))
def {prefix}_trivial(i):
    assert i >= 0
"""
RUN_ID_FORMAT = "%Y%m%d-%H%M%S-%f"
RUN_FOLDER = re.compile(r"\d{8}-\d{6}-\d{6}")


def write_projects(root: Path, checks: int) -> tuple[Path, Path]:
    plain, aide = root / "plain", root / "aide"
    plain.mkdir()
    aide.mkdir()
    (plain / "test_trivial.py").write_text(TEST_FILE.format(checks=checks, prefix="test"), encoding="utf-8")
    (aide / "check_trivial.py").write_text(TEST_FILE.format(checks=checks, prefix="check"), encoding="utf-8")
    (aide / "aide.toml").write_text('# benchmark project: trivial checks only\n[reports]\ndir = "reports"\n')
    return plain, aide


def run_folders(reports: Path) -> set[Path]:
    """The archive's run folders (named by run id), not what else it holds (pytest-benchmark's storage...)."""
    if not reports.is_dir():
        return set()
    return {p for p in reports.iterdir() if p.is_dir() and RUN_FOLDER.fullmatch(p.name)}


def seed_history(reports: Path, template: Path, count: int) -> None:
    """``count`` copies of an archived run, one a day back from yesterday (the index lists them all)."""
    today = datetime.now(UTC)
    for day in range(1, count + 1):
        run_id = (today - timedelta(days=day)).strftime(RUN_ID_FORMAT)
        shutil.copytree(template, reports / run_id)
        health = reports / run_id / "health.json"
        if health.is_file():
            health.write_text(health.read_text(encoding="utf-8").replace(template.name, run_id), encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000, help="trivial checks/tests per run (default 1000)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds, after one warm-up (default 7)")
    parser.add_argument("--history", type=int, default=30, help="earlier runs in the archive (default 30)")
    parser.add_argument("--bound", type=float, default=1.2, help="max median ratio aide/plain (default 1.2)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions under valgrind")
    parser.add_argument("--python", help="interpreter of an existing install to measure instead of building one")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    python = str(ops.operator_python(python=args.python))
    with tempfile.TemporaryDirectory(prefix="aide-bench-overhead-") as tmp:
        plain, aide = write_projects(Path(tmp), args.checks)
        reports = aide / "reports"
        plain_cmd = [python, "-m", "pytest", "-p", "no:aide", "--junitxml=junit.xml", "--html=report.html"]
        plain_cmd += ["--self-contained-html", "test_trivial.py"]
        aide_cmd = [python, "-m", "pytest", "check_trivial.py"]
        print(f"{args.checks} trivial checks, {args.rounds} rounds, {args.history} archived runs; {python}")
        print(f"plain: {' '.join(plain_cmd[1:])}  (in {plain})")
        print(f"aide:  {' '.join(aide_cmd[1:])}  (in {aide}, aide.toml)", flush=True)

        # The first aide run writes the archive's template run; the history is copies of it.
        first = ops.run_timed(aide_cmd, aide)
        if first.returncode != 0 or not run_folders(reports):
            raise SystemExit(f"bench: the first aide run failed (exit {first.returncode}):\n{first.output[-3000:]}")
        template = run_folders(reports).pop()
        archived = sorted(p.name for p in template.iterdir())
        seed_history(reports, template, args.history)
        shutil.rmtree(template)
        before = run_folders(reports)

        def plain_run() -> ops.Sample:
            return ops.run_timed(plain_cmd, plain)

        def aide_run() -> ops.Sample:
            sample = ops.run_timed(aide_cmd, aide)
            for added in run_folders(reports) - before:
                shutil.rmtree(added)  # the same archive for every round
            return sample

        def check(label: str, sample: ops.Sample) -> str | None:
            if label == "aide" and "verdict" not in sample.output:
                return "no pytest-aide verdict in the output"
            return None

        print(ops.load_line(), flush=True)
        series = ops.interleave({"plain": plain_run, "aide": aide_run}, args.rounds, check=check)
        print(ops.load_line())
        counts = {}
        if args.instructions:  # one run each under valgrind: the same count however busy the machine is
            counts = {"plain": ops.instruction_count(plain_cmd, plain), "aide": ops.instruction_count(aide_cmd, aide)}
            for added in run_folders(reports) - before:
                shutil.rmtree(added)
    ratios = ops.paired_ratios(series["aide"], series["plain"])
    median_ratio = statistics.median(ratios)
    print(f"archived per aide run: {', '.join(archived)} (+ index.html over {args.history + 1} runs)")
    for s in series.values():
        print(s.line())
    aide_s, plain_s = series["aide"], series["plain"]
    print(
        f"ratio aide/plain: median of rounds {median_ratio:.2f}, of medians {aide_s.median / plain_s.median:.2f}, "
        f"of bests {aide_s.best / plain_s.best:.2f}, of CPU medians {aide_s.cpu_median / plain_s.cpu_median:.2f}"
    )
    if counts:
        print(
            f"instructions: plain {counts['plain'] / 1e9:.3f} G, aide {counts['aide'] / 1e9:.3f} G, "
            f"ratio {counts['aide'] / counts['plain']:.3f}"
        )
    ok = median_ratio <= args.bound
    print(ops.verdict(ok, f"aide/plain {median_ratio:.2f} <= {args.bound:g} (median of per-round ratios)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
