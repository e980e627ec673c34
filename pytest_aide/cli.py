"""The ``aide`` command: a starter configuration, scheduled runs, backups, the target's start/stop, and
diagnostics, from a shell, cron or systemd.

Exit codes: 0 done, 1 the operation failed (a partial backup, a failed verification, a target that does
not answer, a schedule overdue...), 2 usage or configuration error. ``aide check`` becomes pytest, whose exit
codes then apply. Errors are one line, ``aide: error: ...``; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pytest_aide import cli_history, cli_ops
from pytest_aide.errors import AideError, ConfigError, UnwritablePlaceError

if TYPE_CHECKING:  # imported where a command needs them: `aide check` and `aide init` need neither
    from pytest_aide.backup import BackupConfig, BackupManager, BackupSet
    from pytest_aide.config import AideConfig

PROGRESS_MIN_BYTES = 64 << 20  # smaller jobs finish before a progress line would help


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked (not for every command's parser)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **_: object) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"pytest-aide {cli_ops.installed_version()}")
        parser.exit()


class _UsageError(Exception):
    """A mistake in how ``aide`` was called: exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aide`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "config_free", False):  # init writes one, check leaves reading it to pytest
            return int(args.run(args))
        from pytest_aide.config import load_config

        config = load_config(args.config, rootdir=Path.cwd())
        return int(args.run(config, args))
    except (ConfigError, _UsageError, UnwritablePlaceError) as exc:
        return _fail(str(exc), 2)
    except AideError as exc:
        return _fail(str(exc), 1)
    except OSError as exc:  # a place aide must read or write: one line naming it, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}", 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def backup_manager(config: AideConfig) -> BackupManager:
    """A BackupManager for the ``[backup]`` table of the project's configuration.

    The configuration is found and read as the pytest plugin does (``--config`` > ``AIDE_CONFIG`` >
    ``aide.toml`` or ``[tool.aide]`` from here upwards, see :mod:`pytest_aide.discovery`), so ``aide`` and the
    checks always agree.
    """
    if config.backup is None:
        raise ConfigError(
            f"{config.source_name}: no [backup] table, so there is nothing to back up (see the README for an example)"
        )
    from pytest_aide.backup import BackupManager

    return BackupManager(config.backup, redactor=config.redactor(), progress=_Progress(sys.stderr))


def _backup_command(run: Callable[[BackupManager, argparse.Namespace], int]) -> Callable[..., int]:
    def command(config: AideConfig, args: argparse.Namespace) -> int:
        return run(backup_manager(config), args)

    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aide",
        description="Write a starter configuration; run scheduled checks and watch that they still run; back up, "
        "verify, restore and prune; start, stop and diagnose the target.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="configuration file (default: $AIDE_CONFIG, else aide.toml or [tool.aide] found from here upwards)",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("backup", help="take a new backup set").set_defaults(run=_backup_command(_cmd_backup))
    backups = sub.add_parser("backups", help="list backup sets, newest first")
    backups.add_argument("--json", action="store_true", help="print the sets as JSON (for scripts)")
    backups.set_defaults(run=_backup_command(_cmd_list))
    verify = sub.add_parser("verify", help="prove a set restorable (checksums, scratch restores)")
    verify.add_argument("set_id", metavar="SET")
    verify.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
    verify.set_defaults(run=_backup_command(_cmd_verify))
    restore = sub.add_parser("restore", help="restore a set (asks which one when SET is omitted)")
    restore.add_argument("set_id", metavar="SET", nargs="?")
    restore.add_argument(
        "--component", action="append", metavar="NAME", help="restore only this component (repeatable)"
    )
    restore.add_argument("--force", action="store_true", help="restore even if the set fails verification")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.set_defaults(run=_backup_command(_cmd_restore))
    prune = sub.add_parser("prune", help="delete sets the retention policy no longer keeps")
    prune.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    prune.set_defaults(run=_backup_command(_cmd_prune))
    cli_ops.add_commands(sub)
    cli_history.add_commands(sub)
    return parser


def _cmd_backup(manager: BackupManager, args: argparse.Namespace) -> int:
    new = manager.create()
    size = sum(c.size for c in new.components)
    print(f"backup {new.set_id}: {new.status}, {len(new.components)} components, {_mb(size)} in {new.path.parent}")
    for comp in new.components:
        if not comp.ok:
            print(f"aide: component {comp.name} failed: {comp.error}", file=sys.stderr)
        left_out = comp.summary.get("left_out") or []
        if left_out:
            count = comp.summary.get("excluded", len(left_out))
            shown = ", ".join(left_out[:5]) + (f" and {count - 5} more" if count > 5 else "")
            print(f"{comp.name}: left out {count} secret or key file(s), listed in the manifest: {shown}")
    return 0 if new.complete else 1


def _cmd_list(manager: BackupManager, args: argparse.Namespace) -> int:
    sets = manager.list_sets()
    copies = [(str(path), size) for path, size in manager.safety_copies()] + manager.database_copies()
    if args.json:
        kept = [{"path": str(path), "bytes": size} for path, size in copies]
        print(json.dumps({"sets": [_set_json(s) for s in sets], "safety_copies": kept}, indent=2))
        return 0
    if not sets:
        print(f"no backup sets in {manager.config.dir} (run `aide backup`)")
    for line in _set_lines(sets):
        print(line)
    if copies:
        print("safety copies kept by restores (never deleted automatically; remove them once you are sure):")
        for path, size in copies:
            print(f"  {path}  {_mb(size)}")
    return 0


def _set_json(backup_set: BackupSet) -> dict[str, object]:
    """One set for scripts: what the listing shows, and each component's outcome."""
    return {
        "id": backup_set.set_id,
        "created": backup_set.created.isoformat(),
        "status": backup_set.status,
        "verified": backup_set.verified,
        "bytes": sum(c.size for c in backup_set.components),
        "path": str(backup_set.path),
        "components": [
            {"name": c.name, "kind": c.kind, "ok": c.ok, "file": c.file, "bytes": c.size, "error": c.error}
            for c in backup_set.components
        ],
    }


def _set_lines(sets: list[BackupSet]) -> list[str]:
    return [
        f"{s.set_id}  {s.created:%Y-%m-%d %H:%M:%S} UTC  {s.status:<8}  "
        f"{'verified' if s.verified else 'unverified':<10}  {_mb(sum(c.size for c in s.components))}"
        for s in sets
    ]


def _cmd_verify(manager: BackupManager, args: argparse.Namespace) -> int:
    result = manager.verify(args.set_id)
    if args.json:
        fields = {"set_id": result.set_id, "ok": result.ok, "problems": list(result.problems)}
        print(json.dumps({**fields, "checked": list(result.checked), "notes": list(result.notes)}, indent=2))
        return 0 if result.ok else 1
    for note in result.notes:
        print(f"aide: set {result.set_id}: note: {note}", file=sys.stderr)
    if result.ok:
        print(f"set {result.set_id}: verified ({', '.join(result.checked)})")
        return 0
    for problem in result.problems:
        print(f"aide: set {result.set_id}: {problem}", file=sys.stderr)
    return 1


def _cmd_restore(manager: BackupManager, args: argparse.Namespace) -> int:
    set_id = args.set_id or _choose_set(manager)
    backup_set = manager.get(set_id)
    names = args.component or [c.name for c in backup_set.components if c.ok]
    targets = [_target_text(manager.config, name) for name in names]
    if not args.yes and not _confirm(
        f"Restore set {set_id} over: {', '.join(targets)}? (the current content is kept as *_before_restore_*) [y/N] "
    ):
        print("restore cancelled", file=sys.stderr)
        return 1
    result = manager.restore(set_id, names, force=args.force)
    for comp in result.restored:
        kept = f" (previous content kept in {comp.safety_copy})" if comp.safety_copy else ""
        print(f"restored {comp.name} -> {comp.target}{kept}")
    return 0


def _target_text(config: BackupConfig, name: str) -> str:
    comp = config.component(name)
    return f"{name} ({comp.source})" if comp.source is not None else f"{name} (PostgreSQL database)"


def _choose_set(manager: BackupManager) -> str:
    sets = manager.list_sets()
    if not sys.stdin.isatty():
        raise _UsageError("restore needs a SET when stdin is not a terminal (run `aide backups` to list them)")
    if not sets:
        raise _UsageError(f"no backup sets in {manager.config.dir} to restore")
    for number, line in enumerate(_set_lines(sets), start=1):
        print(f"{number:>3}. {line}")
    answer = input("Restore which set? [1] ").strip() or "1"
    if not answer.isdigit() or not 1 <= int(answer) <= len(sets):
        raise _UsageError(f"{answer!r} is not a number between 1 and {len(sets)}")
    return sets[int(answer) - 1].set_id


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise _UsageError("restore asks for confirmation: pass --yes when stdin is not a terminal")
    return input(question).strip().lower() in ("y", "yes")


def _cmd_prune(manager: BackupManager, args: argparse.Namespace) -> int:
    result = manager.prune(dry_run=args.dry_run)
    verb = "would remove" if result.dry_run else "removed"
    for set_id in result.removed:
        print(f"{verb} {set_id}")
    for name in result.temp_removed:
        print(f"{verb} stale temp folder {name}")
    print(f"kept {len(result.kept)} sets, {verb} {len(result.removed)}")
    return 0


class _Progress:
    """Progress of long steps on a terminal: a line a second with MB/s and the time left; silent otherwise.

    Cron and systemd read the outcome, not a running count, so nothing is printed when stderr is not a terminal.
    """

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._last = 0.0
        self._started: dict[str, float] = {}
        self._quiet = not stream.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._quiet:
            return
        now = self._clock()
        started = self._started.setdefault(stage, now)
        if (total and total < PROGRESS_MIN_BYTES) or (now - self._last < 1.0 and not (total and done >= total)):
            return
        self._last = now
        print(f"aide: {progress_line(stage, done, total, now - started)}", file=self._stream, flush=True)


def progress_line(stage: str, done: int, total: int, elapsed: float) -> str:
    """``compress db.sqlite: 512.0 of 1400.0 MB, 210.3 MB/s, about 4 s left`` (total 0: unknown)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    line = f"{stage}: {_mb(done)}" + (f" of {_mb(total)}" if total else "")
    if rate > 0:
        line += f", {rate / 1e6:.1f} MB/s"
        if total and done < total:
            line += f", about {_duration((total - done) / rate)} left"
    return line


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _fail(message: str, code: int) -> int:
    print(f"aide: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
