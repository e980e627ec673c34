"""MariaDB backup speed of ``aide`` against ``mariadb-dump --single-transaction | zstd -3 -T2`` on one database.

    .venv/bin/python bench/bench_backup_mysql.py                   # ~300 MB of dump (default)
    .venv/bin/python bench/bench_backup_mysql.py --rows 200000     # quicker

Creates a database ``aide_bench_<hex>`` on the server (``--url``, default the local root account) with
half-compressible rows (hex text, like the SQLite bench), then times in interleaved rounds (A B, B A, ...,
after one untimed warm-up of each): (a) the shell pipeline ``mariadb-dump --single-transaction --routines
--triggers DB | zstd -3 -T2 -o OUT`` and (b) ``aide backup`` of a ``kind = "mysql"`` component (the same dump
streamed through aide's row counter into zstd, archive fsynced, manifest written). The bound is checked
against the median of the per-round ratios b/a: <= 1.2. The database is dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: this tree's aide

from pytest_aide.backup import mysql_source  # after the path set-up above

BOUND = 1.2


def build(db_url: str, rows: int) -> None:
    """One InnoDB table of ``rows`` rows of ~0.5 KB (hex of hashes: about 2:1 under zstd) and a small one."""
    name = mysql_source.quote_name(mysql_source.parse_url(db_url).database)
    conn = mysql_source.connect(db_url)
    try:
        mysql_source.query(conn, f"CREATE DATABASE {name}")
        mysql_source.query(conn, f"USE {name}")  # the seq_1_to_N tables live in every database
        mysql_source.query(conn, f"CREATE TABLE {name}.items (id int PRIMARY KEY, n int, body text) ENGINE=InnoDB")
        mysql_source.query(conn, f"CREATE TABLE {name}.tags (id int PRIMARY KEY, tag varchar(40)) ENGINE=InnoDB")
        mysql_source.query(
            conn,
            f"INSERT INTO {name}.items SELECT seq, seq % 1000, CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512), "
            f"SHA2(seq + 2, 512), SHA2(seq + 3, 512), ' it''s (a),(b)') FROM seq_1_to_{rows}",
        )
        mysql_source.query(conn, f"INSERT INTO {name}.tags SELECT seq, CONCAT('tag-', seq) FROM seq_1_to_1000")
    finally:
        conn.close()


def drop(db_url: str) -> None:
    conn = mysql_source.connect(db_url)
    try:
        mysql_source.drop_database(conn, mysql_source.parse_url(db_url).database)
    finally:
        conn.close()


CPU: list[tuple[str, float]] = []  # (side, CPU seconds of the command and its children), load-independent


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``args`` after a ``sync`` (the previous side's writeback is not this side's cost); returns its
    seconds and its peak RSS in MB (``wait4``: the largest process of the command); its CPU time goes to CPU."""
    os.sync()
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    CPU.append((args[0], usage.ru_utime + usage.ru_stime))
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench: {args} exited with {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024


def pipeline(url: str, work: Path) -> tuple[float, float]:
    """The baseline: the dump tool piped into zstd (the password in a 0600 option file, as aide passes it);
    returns its seconds, and the seconds an fsync of its archive takes after it (aide fsyncs its own)."""
    target = mysql_source.parse_url(url)
    tool = mysql_source.client_tool("mariadb-dump", "mysqldump")
    out = work / "pipeline.sql.zst"
    out.unlink(missing_ok=True)
    with mysql_source.option_file(target) as options:
        command = (
            f"set -o pipefail; '{tool}' --defaults-extra-file='{options}' --single-transaction --routines --triggers "
            f"'{target.database}' | zstd -3 -T2 -q -o '{out}'"
        )
        seconds = timed(["bash", "-c", command], work)[0]
    started = time.perf_counter()
    subprocess.run(["sync", str(out)], check=True, timeout=600)
    return seconds, time.perf_counter() - started


def aide_backup(work: Path) -> tuple[float, float]:
    result = timed([sys.executable, "-m", "pytest_aide.cli", "--config", str(work / "aide.toml"), "backup"], work)
    for set_dir in (work / "backups").iterdir():  # one set at a time on disk
        if not set_dir.name.startswith("."):
            shutil.rmtree(set_dir)
    return result


def run(url: str, rows: int, rounds: int, work: Path) -> bool:
    name = f"aide_bench_{uuid.uuid4().hex[:10]}"
    db_url = f"{url.rstrip('/')}/{name}"
    started = time.perf_counter()
    try:
        build(db_url, rows)
        print(f"database {name}: {rows} rows built in {time.perf_counter() - started:.1f} s")
        (work / "aide.toml").write_text(
            f'[backup]\ndir = "backups"\n[[backup.components]]\nname = "db"\nkind = "mysql"\nurl = "{db_url}"\n'
        )
        env_path = str(Path(__file__).resolve().parents[1])
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (env_path, os.environ.get("PYTHONPATH")) if p)
        pipeline(db_url, work)  # warm-up: buffer pool and page cache, untimed
        aide_backup(work)
        pipes, durable, ours, rss = [], [], [], []
        for round_ in range(rounds):
            order = ("pipeline", "aide") if round_ % 2 == 0 else ("aide", "pipeline")
            for side in order:
                if side == "pipeline":
                    seconds, fsync_s = pipeline(db_url, work)
                    pipes.append(seconds)
                    durable.append(seconds + fsync_s)
                else:
                    seconds, peak = aide_backup(work)
                    ours.append(seconds)
                    rss.append(peak)
        size = (work / "pipeline.sql.zst").stat().st_size
    finally:
        drop(db_url)
    ratios = [a / p for a, p in zip(ours, pipes, strict=True)]
    ratio = statistics.median(ratios)
    print(f"archive (pipeline): {size / 1e6:.0f} MB")
    print(f"pipeline rounds: {', '.join(f'{x:.2f}' for x in pipes)} s (median {statistics.median(pipes):.2f})")
    print(f"aide rounds    : {', '.join(f'{x:.2f}' for x in ours)} s (median {statistics.median(ours):.2f})")
    print(f"per-round ratios: {', '.join(f'{x:.2f}' for x in ratios)}; best {min(ours) / min(pipes):.2f}")
    fair = statistics.median(a / d for a, d in zip(ours, durable, strict=True))
    print(f"durability-equal (pipeline + fsync of its archive): median ratio {fair:.2f}")
    print(f"aide peak RSS {max(rss):.0f} MB")
    # the server's own CPU is the same for both sides and not in these figures
    pipe_cpu = statistics.median(c for side, c in CPU[2:] if side == "bash")
    aide_cpu = statistics.median(c for side, c in CPU[2:] if side != "bash")
    print(f"client CPU medians: pipeline {pipe_cpu:.2f} s, aide {aide_cpu:.2f} s ({aide_cpu / pipe_cpu:.2f}x)")
    ok = ratio <= BOUND
    print(
        f"{'PASS' if ok else 'FAIL'}: MariaDB backup <= {BOUND}x mariadb-dump | zstd -3 -T2 (median ratio {ratio:.2f})"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mysql://root@127.0.0.1:3306", help="server, no database (one is created)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of ~0.5 KB hex text (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds per side, order alternating")
    parser.add_argument("--workdir", type=Path, default=None, help="where archives go (default: a temp folder)")
    args = parser.parse_args()
    for tool in ("zstd", "bash"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is not on PATH")
    with tempfile.TemporaryDirectory(prefix="aide-bench-mysql-", dir=args.workdir) as work:
        if not run(args.url, args.rows, args.rounds, Path(work)):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
