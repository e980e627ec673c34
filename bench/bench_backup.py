"""Backup and restore speed and memory of ``aide`` against the plain sqlite3 + zstd pipeline.

    .venv/bin/python bench/bench_backup.py                 # 1 GiB database (default)
    .venv/bin/python bench/bench_backup.py --size-mb 256   # quicker

Builds an SQLite database of the given size (half-compressible rows), then times, in the same run:
(a) ``sqlite3 DB ".backup OUT"`` + ``zstd -3 -T2``, (b) ``aide backup``, (c) ``zstd -d`` + ``cp``,
(d) ``aide restore`` (of the verified set; verification timed separately). Peak RSS of each ``aide`` process
comes from ``wait4``. Targets: backup <= 1.2x the pipeline, restore <= 1.2x, peak memory < 200 MB.
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


def timed(args: list[str], cwd: Path, *, flush: bool = True) -> tuple[float, float]:
    """Run ``args``; returns (seconds, peak RSS in MB) of that process.

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
    return seconds, usage.ru_maxrss / 1024


def aide(work: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest_aide.cli", "--config", str(work / "aide.toml"), *args]


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
                seconds, peak = timed(aide(work, "backup"), work)
                ours.append(seconds)
                rss.append(peak)
    pipe_backup, ours_backup, backup_rss = min(pipes), min(ours), max(rss)
    shown = {"pipeline": pipes, "pipeline+fsync": durable, "aide": ours}
    print("backup rounds: " + "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v)} s" for k, v in shown.items()))
    set_id = sorted(p.name for p in (work / "backups").iterdir() if not p.name.startswith("."))[-1]
    verify_s, verify_rss = timed(aide(work, "verify", set_id), work)
    pipe_restore = timed(["zstd", "-d", "-T2", "-q", str(work / "copy.db.zst"), "-o", str(work / "restored.db")], work)[
        0
    ]
    pipe_restore += timed(["cp", str(work / "restored.db"), str(work / "restored-copy.db")], work, flush=False)[0]
    ours_restore, restore_rss = timed(aide(work, "restore", set_id, "--yes"), work)
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
    print(
        f"restore: pipeline {pipe_restore:6.2f} s | aide {ours_restore:6.2f} s | ratio "
        f"{ours_restore / pipe_restore:.2f} (target <= 1.2) | peak RSS {restore_rss:.0f} MB"
    )
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
    parser.add_argument("--rounds", type=int, default=2, help="backup rounds per side, order alternating (default 2)")
    args = parser.parse_args()
    for tool in ("sqlite3", "zstd", "cp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is not on PATH")
    with tempfile.TemporaryDirectory(prefix="aide-bench-", dir=args.workdir) as work:
        if not run(Path(work), args.size_mb, args.rounds):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
