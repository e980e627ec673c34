"""The operator's path, end to end: the built wheel installed in a fresh virtualenv in an empty folder outside
the repository, ``aide init`` pointed at real servers (an HTTP app, PostgreSQL, Redis), then ``pytest -m daily``
there runs every shipped daily check; a second folder with its own checks gets them as well.

Slow (a wheel build and an install from the package index): marked ``slow``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import unique_name

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "pytest_aide" / "suite" / "aide"
BUILD_TIMEOUT = 600  # seconds: pip fetches the build backend into an isolated environment
INSTALL_TIMEOUT = 900  # the wheel's dependencies come from the package index
RUN_TIMEOUT = 300
VERDICTS = {"HEALTHY", "DEGRADED", "UNHEALTHY", "CRITICAL"}
ROWS = 3


@dataclass(frozen=True)
class Install:
    venv: Path
    version: str

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of an operator's shell: this virtualenv first on PATH, nothing of the repository's."""
        dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in dropped and not k.startswith("AIDE_") and k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
        }
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **extra}

    def run(
        self, cwd: Path, *command: str, timeout: float = RUN_TIMEOUT, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / command[0]), *command[1:]],
            cwd=cwd,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _run(command: list[str], cwd: Path, timeout: float) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """Build the wheel from a copy of the sources (the build leaves no build/ in the shared tree) and install
    it with the postgres and redis extras into a fresh virtualenv."""
    base = tmp_path_factory.mktemp("wheel")
    assert not base.is_relative_to(REPO)
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "docs/pypi.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "pytest_aide", source / "pytest_aide", ignore=shutil.ignore_patterns("__pycache__"))
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)], base, BUILD_TIMEOUT)
    (wheel,) = dist.glob("pytest_aide-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], base, 120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, f"{wheel}[postgres,redis]"], base, INSTALL_TIMEOUT)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    return Install(venv, version)


@pytest.fixture
def demo_app(install: Install, tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """The demo app of the installed wheel on a free port of 127.0.0.1; stopped by its pid afterwards."""
    data, output = tmp_path / "demo", tmp_path / "demo-output.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(install.bin / "python"), "-m", "pytest_aide.demo", "--port", "0", "--data-dir", str(data)],
            cwd=tmp_path,
            env=install.env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"demo serving on http://127\.0\.0\.1:(\d+)", output.read_text())):
            assert process.poll() is None, f"the demo app exited: {output.read_text()}"
            assert time.monotonic() < deadline, f"the demo app did not start: {output.read_text()}"
            time.sleep(0.1)
        yield int(found.group(1)), process, data
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def shipped_daily_checks() -> set[tuple[str, str]]:
    """(file, function) of every shipped check marked daily, on itself or by its module's ``pytestmark``."""
    found = set()
    for path in sorted(SUITE.glob("check_*.py")):
        tree = ast.parse(path.read_text())
        module_daily = any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
            and _marks_daily(node.value)
            for node in tree.body
        )
        for node in tree.body:
            is_check = isinstance(node, ast.FunctionDef) and node.name.startswith("check_")
            if is_check and (module_daily or any(_marks_daily(d) for d in node.decorator_list)):
                found.add((path.name, node.name))
    return found


def _marks_daily(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "daily" for n in ast.walk(node))


def file_and_function(nodeid: str) -> tuple[str, str]:
    path, _, name = nodeid.partition("::")
    return Path(path).name, name.split("[")[0]


def newest_run(reports: Path) -> Path:
    runs = sorted(p for p in reports.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert runs, f"no archived run in {reports}"
    return runs[-1]


def newest_health(reports: Path) -> dict[str, Any]:
    return json.loads((newest_run(reports) / "health.json").read_text(encoding="utf-8"))


def by_check(health: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["nodeid"]: c for c in health["checks"]}


@pytest.fixture
def monitor_url(pg_database: str) -> Iterator[str]:
    """A monitoring role made as the README says (a superuser URL is refused), dropped afterwards."""
    import psycopg

    role = unique_name("aide_monitor")
    database = pg_database.rsplit("/", 1)[1]
    with psycopg.connect(pg_database, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE orders (id integer)")
        conn.execute(f"INSERT INTO orders SELECT generate_series(1, {ROWS})")
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.execute(f'GRANT SELECT ON orders TO "{role}"')
    try:
        yield f"postgresql://{role}@127.0.0.1:5432/{database}"
    finally:
        with psycopg.connect(pg_database, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_the_installed_metadata_is_short(install: Install, tmp_path: Path) -> None:
    # Every pytest run on the machine, aide's or not, parses it twice for its header's list of plugin versions:
    # the 118 KB README as the long description cost each run about 3 ms of email-header parsing.
    code = "import importlib.metadata as m; d = m.distribution('pytest-aide'); print(len(d.read_text('METADATA')))"
    done = install.run(tmp_path, "python", "-c", code)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 4096
    summary = install.run(
        tmp_path,
        "python",
        "-c",
        "import importlib.metadata as m; print(m.metadata('pytest-aide')['Description-Content-Type'])",
    )
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.strip() == "text/markdown"


def test_the_installed_wheel_checks_an_operators_own_system(
    install: Install,
    demo_app: tuple[int, subprocess.Popen[bytes], Path],
    monitor_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    import redis

    port, demo, demo_data = demo_app
    with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
        client.set(f"{redis_prefix}seen", "1")  # the test's own key, removed by the fixture

    site = tmp_path / "site"
    site.mkdir()
    (site / "demo.pid").write_text(str(demo.pid))
    version = install.run(site, "aide", "--version")
    assert (version.returncode, version.stdout) == (0, f"pytest-aide {install.version}\n")
    where = install.run(site, "python", "-c", "import pytest_aide; print(pytest_aide.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(install.venv), where.stdout + where.stderr

    init = install.run(
        site,
        "aide",
        "init",
        f"--app-url=http://127.0.0.1:{port}",
        "--db-url-env=APP_DB_URL",
        "--table=orders",
        f"--cache-url={redis_url}",
        "--disk=.",
        f"--log={demo_data / 'logs' / 'app.log'}",
        f"--port={port}",
        "--pidfile=demo.pid",
        f"--env-file={demo_data / 'config' / '.env'}",
    )
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in site.iterdir()) == ["aide.toml", "demo.pid", "pytest.ini"]
    env = install.env(APP_DB_URL=monitor_url)  # the database URL from the variable named by --db-url-env

    collected = install.run(site, "pytest", "--collect-only", "-q", "-m", "daily", "-p", "no:cacheprovider", env=env)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    nodeids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert {file_and_function(n) for n in nodeids} == shipped_daily_checks()

    daily = install.run(site, "pytest", "-m", "daily", "-p", "no:cacheprovider", env=env)
    assert daily.returncode in (0, 1), daily.stdout + daily.stderr
    assert "pytest-aide verdict" in daily.stdout
    assert re.search(r"^(HEALTHY|DEGRADED|UNHEALTHY|CRITICAL)  score [\d.]+/100", daily.stdout, re.MULTILINE)
    health = newest_health(site / "reports")
    assert health["status"] in VERDICTS
    archived = {path.name for path in newest_run(site / "reports").iterdir()}  # the installed templates rendered
    assert {"health.json", "health.html", "report.html", "junit.xml"} <= archived
    assert (site / "reports" / "index.html").is_file()
    checks = by_check(health)
    assert set(checks) == set(nodeids)
    probed = {  # the configured parts were reached, not skipped
        "aide/check_api.py::check_api_health": "response_time_s",
        "aide/check_database.py::check_table_rows[orders]": "rows",
        "aide/check_database.py::check_db_reachable": "db_query_s",
        "aide/check_cache.py::check_cache_server": "cache_keys",
        "aide/check_resources.py::check_disk[.]": "disk_percent",
        "aide/check_logs.py::check_log_file[app.log]": "log_size_mb",
        f"aide/check_processes.py::check_port_listening[{port}]": "processes",
        "aide/check_processes.py::check_pidfile_process[demo.pid]": "processes",
        "aide/check_preflight.py::check_config_file[.env]": "config_file_bytes",
    }
    for nodeid, measurement in probed.items():
        assert measurement in checks[nodeid]["measurements"], (nodeid, checks[nodeid])
    assert checks["aide/check_database.py::check_table_rows[orders]"]["measurements"]["rows"]["value"] == ROWS
    assert checks["aide/check_cache.py::check_cache_server"]["measurements"]["cache_keys"]["value"] >= 1

    own = tmp_path / "own"
    own.mkdir()
    (own / "check_billing.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.daily\n"
        "def check_invoice_queue(aide_health):\n"
        '    aide_health.record("invoice_queue", 4.0, "invoices", warning="100")\n'
    )
    second = install.run(
        own, "aide", f"--config={site / 'aide.toml'}", "check", "daily", "-p", "no:cacheprovider", env=env
    )
    assert second.returncode in (0, 1), second.stdout + second.stderr
    assert "pytest-aide verdict" in second.stdout
    checks = by_check(newest_health(site / "reports"))  # the configuration's archive
    assert set(checks) == {*nodeids, "check_billing.py::check_invoice_queue"}
    assert checks["check_billing.py::check_invoice_queue"]["status"] == "OK"
