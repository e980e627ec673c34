"""Backup and restore speed and memory of ``aide`` against the plain sqlite3 + zstd pipeline.

    .venv/bin/python bench/bench_backup.py                 # 1 GiB database (default)
    .venv/bin/python bench/bench_backup.py --size-mb 256   # quicker

Builds an SQLite database of the given size (half-compressible rows), then times, in the same run:
(a) ``sqlite3 DB ".backup OUT"`` + ``zstd -3 -T2``, (b) ``aide backup``, (c) ``zstd -d`` + ``cp``,
(d) ``aide restore`` (of the verified set; verification timed separately), each side ``--rounds`` times in
alternating order. Peak RSS of each ``aide`` process comes from ``wait4``. Targets: backup <= 1.2x the pipeline,
restore <= 1.2x, peak memory < 200 MB. ``AIDE_BENCH_SOURCE=DIR`` runs ``aide`` from another checkout (to
compare a candidate change with the same script and database).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROW_BYTES = 2000  # hex of 1000 random bytes: compresses about 2:1, like real text-heavy tables


def build_database(path: Path, size_mb: int) -> None:
    rows = size_mb * (1 << 20) // (ROW_BYTES + 40)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    conn.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
        "INSERT INTO items SELECT x, hex(randomblob(?)) FROM c",
        (rows, ROW_BYTES // 2),
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


SETTLE_S = 15.0


class Run(NamedTuple):
    seconds: float
    peak_mb: float
    cpu_s: float  # user + system: unlike wall time, barely moved by other jobs on the machine


def timed(args: list[str], cwd: Path, *, flush: bool = True) -> Run:
    """Run ``args``; returns its wall time, peak RSS and CPU time.

    With ``flush``, dirty pages of the previous step are written out first (untimed), so no side pays for
    the other's writeback; the second step of a pipeline does not flush, as ``aide`` gets no pause either.
    """
    if flush:
        os.sync()
        time.sleep(SETTLE_S)  # this VM's disk keeps writing after sync returns; the next writer would pay
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} exited with {proc.returncode}")
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def aide(work: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest_aide.cli", "--config", str(work / "aide.toml"), *args]


def aide_source_env() -> None:
    """``AIDE_BENCH_SOURCE=DIR``: every ``aide`` subprocess imports ``pytest_aide`` from that checkout."""
    source = os.environ.get("AIDE_BENCH_SOURCE")
    if source:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
        print(f"aide from {source}")


def pipeline_backup(db: Path, work: Path) -> tuple[float, float]:
    """``sqlite3 DB ".backup OUT"`` then ``zstd -3 -T2 OUT`` (the baseline), and the time to fsync its archive.

    ``aide backup`` fsyncs its archive before it calls a set complete; the pipeline does not, so the second
    figure gives a durability-equal comparison too.
    """
    for stale in (work / "copy.db", work / "copy.db.zst"):
        stale.unlink(missing_ok=True)
    seconds = timed(["sqlite3", str(db), f".backup {work / 'copy.db'}"], work)[0]
    seconds += timed(
        ["zstd", "-3", "-T2", "-q", str(work / "copy.db"), "-o", str(work / "copy.db.zst")], work, flush=False
    )[0]
    started = time.perf_counter()
    subprocess.run(["sync", str(work / "copy.db.zst")], check=True, timeout=600)  # fsync, right after zstd
    fsync_s = time.perf_counter() - started
    (work / "copy.db").unlink()  # as aide drops its scratch copy: leave the same amount of data behind
    return seconds, fsync_s


def pipeline_restore(work: Path) -> tuple[Run, float]:
    """``zstd -d`` then ``cp`` (the baseline) as one run, and the time to fsync the copy it ends with.

    ``aide restore`` fsyncs the restored file before it renames it over the target (else a power cut could
    leave an empty or partial database in its place); the pipeline does not, hence the second figure.
    """
    restored, copy = work / "restored.db", work / "restored-copy.db"
    for stale in (restored, copy):
        stale.unlink(missing_ok=True)
    unpack = timed(["zstd", "-d", "-T2", "-q", str(work / "copy.db.zst"), "-o", str(restored)], work)
    cp = timed(["cp", str(restored), str(copy)], work, flush=False)
    started = time.perf_counter()
    subprocess.run(["sync", str(copy)], check=True, timeout=600)
    both = Run(unpack.seconds + cp.seconds, max(unpack.peak_mb, cp.peak_mb), unpack.cpu_s + cp.cpu_s)
    return both, time.perf_counter() - started


def aide_restore(work: Path, set_id: str) -> Run:
    """``aide restore SET --yes`` over the live database; the safety copy of the previous round is dropped first
    (untimed), so every round restores over the same kind of target and the disk does not fill up."""
    for kept in work.glob("app_before_restore_*"):
        kept.unlink()
    return timed(aide(work, "restore", set_id, "--yes"), work)


def restore_rounds(work: Path, set_id: str, rounds: int) -> tuple[list[Run], list[float], list[Run]]:
    """Pipeline and aide restores, alternating which goes first; the pipeline's runs, those plus the fsync of
    its copy (seconds), aide's runs."""
    pipes: list[Run] = []
    durable: list[float] = []
    ours: list[Run] = []
    for round_ in range(rounds):
        order = ("pipeline", "aide") if round_ % 2 == 0 else ("aide", "pipeline")
        for side in order:
            if side == "pipeline":
                run, fsync_s = pipeline_restore(work)
                pipes.append(run)
                durable.append(run.seconds + fsync_s)
            else:
                ours.append(aide_restore(work, set_id))
    return pipes, durable, ours


def run(work: Path, size_mb: int, rounds: int = 2) -> bool:
    db = work / "app.db"
    started = time.perf_counter()
    build_database(db, size_mb)
    print(f"database: {db.stat().st_size / 1e6:.0f} MB built in {time.perf_counter() - started:.1f} s")
    (work / "aide.toml").write_text(
        '[backup]\ndir = "backups"\n[[backup.components]]\nname = "db"\nkind = "sqlite"\nsource = "app.db"\n'
    )
    pipes, durable, ours, rss = [], [], [], []
    for round_ in range(rounds):  # alternate the order, keep each side's best: page-cache luck evens out
        order = ("pipeline", "aide") if round_ % 2 == 0 else ("aide", "pipeline")
        for side in order:
            if side == "pipeline":
                seconds, fsync_s = pipeline_backup(db, work)
                pipes.append(seconds)
                durable.append(seconds + fsync_s)
            else:
                backup = timed(aide(work, "backup"), work)
                ours.append(backup.seconds)
                rss.append(backup.peak_mb)
    pipe_backup, ours_backup, backup_rss = min(pipes), min(ours), max(rss)
    shown = {"pipeline": pipes, "pipeline+fsync": durable, "aide": ours}
    print("backup rounds: " + "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v)} s" for k, v in shown.items()))
    set_id = sorted(p.name for p in (work / "backups").iterdir() if not p.name.startswith("."))[-1]
    verify_s, verify_rss, _ = timed(aide(work, "verify", set_id), work)
    pipe_runs, r_durable, our_runs = restore_rounds(work, set_id, rounds)
    r_pipes, r_ours = [r.seconds for r in pipe_runs], [r.seconds for r in our_runs]
    pipe_restore, ours_restore, restore_rss = min(r_pipes), min(r_ours), max(r.peak_mb for r in our_runs)
    pipe_cpu, ours_cpu = statistics.median([r.cpu_s for r in pipe_runs]), statistics.median([r.cpu_s for r in our_runs])
    archive = sum(p.stat().st_size for p in (work / "backups" / set_id).glob("*.zst"))
    print(f"archive: {archive / 1e6:.0f} MB (pipeline: {(work / 'copy.db.zst').stat().st_size / 1e6:.0f} MB)")
    print(
        f"backup : pipeline {pipe_backup:6.2f} s | aide {ours_backup:6.2f} s | ratio {ours_backup / pipe_backup:.2f}"
        f" (target <= 1.2) | peak RSS {backup_rss:.0f} MB"
    )
    median = statistics.median
    print(
        f"backup medians: pipeline {median(pipes):.2f} s, pipeline+fsync {median(durable):.2f} s, aide "
        f"{median(ours):.2f} s | ratios {median(ours) / median(pipes):.2f} and {median(ours) / median(durable):.2f}"
    )
    shown = {"pipeline": r_pipes, "pipeline+fsync": r_durable, "aide": r_ours}
    print("restore rounds: " + "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v)} s" for k, v in shown.items()))
    print(
        f"restore: pipeline {pipe_restore:6.2f} s | aide {ours_restore:6.2f} s | ratio "
        f"{ours_restore / pipe_restore:.2f} (target <= 1.2) | peak RSS {restore_rss:.0f} MB"
    )
    print(
        f"restore medians: pipeline {median(r_pipes):.2f} s, pipeline+fsync {median(r_durable):.2f} s, aide "
        f"{median(r_ours):.2f} s | ratios {median(r_ours) / median(r_pipes):.2f} and "
        f"{median(r_ours) / median(r_durable):.2f}"
    )
    paired = [o / p for o, p in zip(r_ours, r_pipes, strict=True)]  # each pair ran back to back, same load
    print(
        f"restore per-round ratios: {', '.join(f'{x:.2f}' for x in paired)} | median {median(paired):.2f}"
        f" (against pipeline+fsync: {median([o / d for o, d in zip(r_ours, r_durable, strict=True)]):.2f})"
    )
    print(f"restore CPU (medians): pipeline {pipe_cpu:.2f} s, aide {ours_cpu:.2f} s | ratio {ours_cpu / pipe_cpu:.2f}")
    print(f"verify : aide {verify_s:6.2f} s (scratch restore + integrity_check) | peak RSS {verify_rss:.0f} MB")
    bounds = {
        "backup <= 1.2x pipeline": ours_backup <= 1.2 * pipe_backup,
        "restore <= 1.2x pipeline": ours_restore <= 1.2 * pipe_restore,
        "peak RSS < 200 MB": max(backup_rss, restore_rss, verify_rss) < 200,
    }
    for bound, ok in bounds.items():
        print(f"{'PASS' if ok else 'FAIL'}: {bound}")
    return all(bounds.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="database size in MB (default 1024)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build (default: a temp folder)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="backup and restore rounds per side, order alternating (default 2)"
    )
    args = parser.parse_args()
    for tool in ("sqlite3", "zstd", "cp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is not on PATH")
    aide_source_env()
    with tempfile.TemporaryDirectory(prefix="aide-bench-", dir=args.workdir) as work:
        if not run(Path(work), args.size_mb, args.rounds):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
