"""``aide init | check | start | stop | status | diagnose``: set up, run from cron, and the target's lifecycle.

``init`` writes a commented starter ``aide.toml`` (:mod:`pytest_aide.starter`) and never overwrites one.
``check`` is a thin wrapper for cron and systemd: it finds the configuration the way the plugin does and
replaces itself with ``python -m pytest -m SCHEDULE --aide-config=FOUND ...``, so every exit status after
that is pytest's. Start and stop follow the operations manual: start the app in the background and keep its
PID in a file; stop with SIGTERM, wait (``[app] stop_grace``, 30 s by default), then SIGKILL, and remove the
PID file. Only a process ``aide start`` started is ever signalled.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aide.discovery import CONFIG_NAME, PYTEST_INI_FILES, command_rootdir, find_config
from pytest_aide.errors import ConfigError
from pytest_aide.redact import Redactor

if TYPE_CHECKING:
    from pytest_aide.config import AideConfig

SCHEDULES = ("daily", "weekly", "monthly", "gate")


def installed_version() -> str:
    """The version of the installed distribution (its metadata, the one place it is written)."""
    from importlib.metadata import PackageNotFoundError, version  # ~30 ms to import: only when asked

    try:
        return version("pytest-aide")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def add_commands(sub: Any) -> None:
    """Register the commands on the ``aide`` parser's subparsers."""
    _add_init(sub)
    check = sub.add_parser(
        "check",
        allow_abbrev=False,
        help="run a schedule's checks from cron or systemd (pytest -m SCHEDULE with the configuration found)",
        description="Replace aide with `python -m pytest -m SCHEDULE --aide-config=CONFIG [PYTEST_ARGS]`, run "
        "in this folder, CONFIG found as the plugin finds it (--config, AIDE_CONFIG, aide.toml or [tool.aide] "
        "from here upwards). Exit statuses are then pytest's.",
    )
    check.add_argument("schedule", choices=SCHEDULES, help="the marker to select")
    check.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="PYTEST_ARGS", help="passed on to pytest")
    check.set_defaults(run=check_command, config_free=True)
    sub.add_parser("start", help="start the target ([app] command) unless something answers").set_defaults(run=start)
    sub.add_parser("stop", help="stop the target started by `aide start` (SIGTERM, grace, SIGKILL)").set_defaults(
        run=stop
    )
    sub.add_parser("status", help="does the target answer its health path? (exit 1 when not)").set_defaults(run=status)
    sub.add_parser(
        "diagnose", help="write an emergency diagnostics snapshot (JSON) into the reports folder"
    ).set_defaults(run=diagnose)


def _add_init(sub: Any) -> None:
    init = sub.add_parser(
        "init",
        allow_abbrev=False,
        help="write a commented starter aide.toml for this system (never overwrites one)",
        description="Write a starter aide.toml: every table commented, the values given here set, the rest "
        "left as commented examples. Relative paths in it are taken from its folder.",
    )
    init.add_argument(
        "--path",
        type=Path,
        default=Path(CONFIG_NAME),
        help="a .toml file to write, or a folder for aide.toml (./aide.toml)",
    )
    init.add_argument("--app-url", metavar="URL", help="[app] url: base URL of the web app")
    init.add_argument("--health-path", metavar="PATH", help="[app] health_path (default /api/health)")
    init.add_argument("--db-url", metavar="URL", help="[db] url without a password (else set AIDE_DB_URL)")
    init.add_argument("--db-url-env", metavar="VAR", help="[db] url_env: the environment variable holding the URL")
    init.add_argument("--cache-url", metavar="URL", help="[cache] url without a password (else AIDE_CACHE_URL)")
    init.add_argument("--cache-url-env", metavar="VAR", help="[cache] url_env: the variable holding the URL")
    repeat = {"action": "append", "default": []}
    init.add_argument("--table", dest="tables", metavar="NAME", **repeat, help="[db] tables: a key table")
    init.add_argument("--disk", dest="disk_paths", metavar="PATH", **repeat, help="[resources] disk_paths")
    init.add_argument("--log", dest="log_files", metavar="FILE", **repeat, help="[logs] files")
    init.add_argument("--process", dest="processes", metavar="NAME", **repeat, help="[resources] processes")
    init.add_argument("--port", dest="ports", metavar="N", type=_port, **repeat, help="[resources] ports")
    init.add_argument("--pidfile", dest="pidfiles", metavar="FILE", **repeat, help="[resources] pidfiles")
    init.add_argument("--env-file", dest="config_files", metavar="FILE", **repeat, help="[preflight] config_files")
    init.add_argument("--python", metavar="PATH", help="[preflight] python: the app's interpreter (pip check)")
    init.set_defaults(run=init_command, config_free=True)


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


def init_command(args: argparse.Namespace) -> int:
    from pytest_aide.starter import StarterOptions, render

    if args.config is not None:
        raise ConfigError("aide init writes a new file: name it with --path (--config names an existing one)")
    target = _init_target(args.path)
    options = StarterOptions(
        app_url=args.app_url,
        health_path=args.health_path,
        db_url=args.db_url,
        db_url_env=args.db_url_env,
        tables=args.tables,
        cache_url=args.cache_url,
        cache_url_env=args.cache_url_env,
        disk_paths=args.disk_paths,
        log_files=args.log_files,
        processes=args.processes,
        ports=args.ports,
        pidfiles=args.pidfiles,
        config_files=args.config_files,
        python=args.python,
    )
    for option, url, variable in (
        ("--app-url", options.app_url, "AIDE_APP_URL"),
        ("--db-url", options.db_url, "AIDE_DB_URL"),
        ("--cache-url", options.cache_url, "AIDE_CACHE_URL"),
    ):
        if url and Redactor().redact(url) != url:
            raise ConfigError(
                f"{option} {Redactor().redact(url)}: holds a secret, which does not belong in {target.name}: "
                f"give the URL without it and put the full one in {variable} in the run's environment"
            )
    write_new_config(target, render(options, version=installed_version()))
    also = " and pytest.ini (runs from its subfolders find aide.toml)" if write_rootdir_marker(target.parent) else ""
    print(f"wrote {target}{also}: describe your system in it, then run `pytest -m daily` in {target.parent}")
    return 0


ROOTDIR_MARKER = """\
# Written by `aide init` beside aide.toml. It makes this folder pytest's rootdir, so that `pytest -m daily` run
# from a subfolder finds this folder's aide.toml too: aide looks for its configuration from where pytest runs
# upwards, but not above pytest's rootdir. pytest options for your checks can go under [pytest].
[pytest]
"""


def write_rootdir_marker(folder: Path) -> bool:
    """Give ``folder`` a pytest.ini when it has no pytest configuration; whether one was written. Without it,
    a run started in a subfolder has that subfolder for rootdir, and aide stays off there."""
    if any(os.path.lexists(folder / name) for name in PYTEST_INI_FILES):  # pytest may take one: left alone
        return False
    try:
        with open(folder / "pytest.ini", "x", encoding="utf-8") as marker:
            marker.write(ROOTDIR_MARKER)
    except OSError:  # appeared meanwhile, or the folder refuses it: aide.toml is written all the same
        return False
    return True


def _init_target(path: Path) -> Path:
    target = Path(os.path.expanduser(path)).absolute()
    if target.is_dir() or target.suffix != ".toml":  # a folder, existing or to be made
        target = target / CONFIG_NAME
    if target.name == "pyproject.toml":
        raise ConfigError(f"{target}: aide init writes aide.toml (copy its tables under [tool.aide] yourself)")
    if os.path.lexists(target):
        raise ConfigError(f"{target} already exists: edit it, or move it away to write a new starter")
    return target


def write_new_config(target: Path, text: str) -> None:
    """Put ``text`` at ``target`` only once it loads as a configuration, and never over an existing file.

    The text goes to a temporary file in the same folder, is validated by the same loader as a run, and is
    then hard-linked to its name: ``link`` fails when the name exists, where ``rename`` would replace it.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".aide-init-", suffix=".toml")
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write here: {exc.strerror or exc} (choose another --path)") from None
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(0o666 & ~umask)  # as if created by open(): mkstemp makes it private
        _validate(temporary, target)
        _link_new(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _validate(temporary: Path, target: Path) -> None:
    from pytest_aide.config import load_config
    from pytest_aide.shipped import validate_exclusions

    try:
        config = load_config(temporary, rootdir=temporary.parent, environ=_named_url_placeholders(temporary))
        validate_exclusions(config.settings.suite.exclude, where=str(target))
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(str(temporary), str(target))) from None


def _named_url_placeholders(path: Path) -> dict[str, str]:
    """The variables ``url_env`` names hold the real URLs at run time; validating the file needs only a value."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # load_config reports it
    placeholders = {"db": "postgresql://set-at-run-time/db", "cache": "redis://set-at-run-time"}  # valid schemes
    found = {}
    for table, placeholder in placeholders.items():
        name = data.get(table, {}).get("url_env") if isinstance(data.get(table), dict) else None
        if isinstance(name, str) and name:
            found[name] = placeholder
    return found


def _link_new(temporary: Path, target: Path) -> None:
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise ConfigError(f"{target} already exists: edit it, or move it away to write a new starter") from None
    except OSError:  # a file system without hard links: check, then rename
        if os.path.lexists(target):
            raise ConfigError(f"{target} already exists: edit it, or move it away to write a new starter") from None
        temporary.replace(target)


def pytest_command(schedule: str, config_path: Path, pytest_args: list[str]) -> list[str]:
    """The pytest command ``aide check`` becomes; ``=`` joins the option to its value (pytest#8846)."""
    return [sys.executable, "-m", "pytest", "-m", schedule, f"--aide-config={config_path}", *pytest_args]


def check_command(args: argparse.Namespace) -> int:
    """Replace this process with pytest (it does not return): cron and systemd see pytest's exit status."""
    given = [arg for arg in args.pytest_args if arg == "--aide-config" or arg.startswith("--aide-config=")]
    if given:
        raise ConfigError(f"{given[0]}: name the configuration before the command: aide --config=PATH check ...")
    start = Path.cwd()
    found = find_config(start, explicit=args.config, explicit_origin="--config", rootdir=command_rootdir(start))
    if found is None:
        raise ConfigError(
            f"no aide configuration found from {start} (aide.toml, or [tool.aide] in pyproject.toml): "
            "write one with `aide init`, or name one with --config=PATH or AIDE_CONFIG"
        )
    command = pytest_command(args.schedule, found.path, args.pytest_args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


def start(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide.target import start_configured

    app = config.settings.app
    pidfile = config.path(app.pidfile)
    result = start_configured(config, pidfile=pidfile, output_path=config.path(app.output))
    if result.started:
        print(f"started pid {result.pid}, answering at {result.health_url} (pid in {pidfile})")
    else:
        print(f"already answering at {result.health_url}: nothing started")
    return 0


def stop(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide.process import stop_started

    pidfile = config.path(config.settings.app.pidfile)
    result = stop_started(pidfile, grace=config.settings.app.stop_grace)
    messages = {
        "no-pidfile": f"nothing to stop: no {pidfile} (aide stops only what `aide start` started)",
        "stale": f"pid {result.pid} is gone (or now another process): removed the stale {pidfile}",
        "terminated": f"stopped pid {result.pid} (SIGTERM) in {result.elapsed_s:.1f} s",
        "killed": f"pid {result.pid} ignored SIGTERM for {config.settings.app.stop_grace:g} s: killed (SIGKILL)",
    }
    print(messages[result.outcome])
    return 0


def status(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide.probes.http import HttpClient

    app = config.settings.app
    if not app.url:
        raise ConfigError(f"{config.source_name}: [app] url is not set (nor AIDE_APP_URL)")
    with HttpClient(
        app.url,
        connect_timeout=app.connect_timeout,
        read_timeout=app.timeout,
        verify=app.verify_tls,
        redactor=config.redactor(),
    ) as client:
        probe = client.probe(app.health_path)
    if probe.ok:
        print(f"{probe.url}: {probe.status_code} in {probe.elapsed_s * 1000:.0f} ms")
        return 0
    print(f"aide: {probe.url}: {probe.error}", file=sys.stderr)
    return 1


def diagnose(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide import diagnostics

    path = diagnostics.write(config, config.path(config.settings.reports.dir), config.redactor())
    print(f"diagnostics written to {path}")
    return 0
