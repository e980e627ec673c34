"""Benchmark: what merely having pytest-aide installed costs a pytest project that has no aide configuration.

    .venv/bin/python bench/bench_inert.py [--rounds 40] [--bound-ms 30] [--instructions] [--python PATH]

A throw-away project of three trivial tests and no ``aide.toml``, run in turns with:

- **installed**: an operator's install of pytest-aide (see ``operator_env.py``), ``pytest test_three.py``;
- **no:aide**: the same install, ``pytest -p no:aide test_three.py`` (pytest never imports the plugin);
- **without**: the same packages less pytest-aide itself, ``pytest test_three.py``.

The bound (issue 7, bullet 3): the median of the per-round differences installed - no:aide is at most
``--bound-ms``. The difference to the install without the package is reported beside it (it adds what the
package costs pytest before any plugin runs: finding its entry point and marking it for assertion rewriting).
With ``--instructions`` each side also runs once under valgrind: instruction counts do not depend on the load of
a shared machine, so they show the few milliseconds that the wall times' noise can hide.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import operator_env as ops  # the benchmarks' shared helpers, beside this script

TESTS = '''"""A project that knows nothing of pytest-aide."""


def test_one():
    assert 1 + 1 == 2


def test_two():
    assert "aide" not in "pytest"


def test_three(tmp_path):
    (tmp_path / "f").write_text("x")
    assert (tmp_path / "f").read_text() == "x"
'''


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds, after one warm-up (default 40)")
    parser.add_argument("--bound-ms", type=float, default=30.0, help="max added milliseconds (default 30)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions under valgrind")
    parser.add_argument("--python", help="interpreter of an install with pytest-aide, instead of building one")
    parser.add_argument("--python-without", help="interpreter of the same install without pytest-aide")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with_aide = str(ops.operator_python(python=args.python))
    without = str(ops.operator_python(with_aide=False, python=args.python_without))
    with tempfile.TemporaryDirectory(prefix="bench-inert-") as tmp:
        project = Path(tmp)
        (project / "test_three.py").write_text(TESTS, encoding="utf-8")
        commands = {
            "installed": [with_aide, "-m", "pytest", "test_three.py"],
            "no:aide": [with_aide, "-m", "pytest", "-p", "no:aide", "test_three.py"],
            "without": [without, "-m", "pytest", "test_three.py"],
        }
        print(f"3 trivial tests, no aide configuration, {args.rounds} rounds in turns; project in {project}")
        for label, command in commands.items():
            print(f"  {label}: {' '.join(command)}")

        def check(label: str, sample: ops.Sample) -> str | None:
            if "3 passed" not in sample.output:
                return "expected '3 passed'"
            if "verdict" in sample.output or "\naide:" in sample.output:
                return "pytest-aide acted in a project without aide configuration"
            return None

        runners = {label: (lambda c=command: ops.run_timed(c, project)) for label, command in commands.items()}
        print(ops.load_line(), flush=True)
        series = ops.interleave(runners, args.rounds, check=check)
        print(ops.load_line())
        counts = {}
        if args.instructions:
            counts = {label: ops.instruction_count(command, project) for label, command in commands.items()}
        leftovers = sorted(p.name for p in project.iterdir() if p.name not in {"test_three.py", "__pycache__"})
    for s in series.values():
        print(s.line())
    added = statistics.median(ops.paired_differences(series["installed"], series["no:aide"])) * 1000
    versus_without = statistics.median(ops.paired_differences(series["installed"], series["without"])) * 1000
    cpu_added = (series["installed"].cpu_median - series["no:aide"].cpu_median) * 1000
    cpu_without = (series["installed"].cpu_median - series["without"].cpu_median) * 1000
    print(
        f"added by the plugin (installed - no:aide): {added:+.1f} ms wall (median of rounds), {cpu_added:+.1f} ms CPU"
    )
    print(f"added by the package (installed - without): {versus_without:+.1f} ms wall, {cpu_without:+.1f} ms CPU")
    if counts:
        base = counts["no:aide"]
        for label, count in counts.items():
            print(f"instructions {label}: {count / 1e6:,.1f} M ({(count - base) / 1e6:+,.1f} M vs no:aide)")
    if leftovers:
        print(f"files left in the project: {', '.join(leftovers)}")
    ok = added <= args.bound_ms
    print(ops.verdict(ok, f"installed - no:aide {added:+.1f} ms <= {args.bound_ms:g} ms"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
