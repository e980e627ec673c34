"""The templates in ci/: well-formed, selecting markers the plugin registers, and (cron) working when run.

PyYAML is not a dependency, so the YAML files get a structural check (every line a key or a list item, the
keys the CI systems need at the right place); the real YAML parser runs too when it happens to be installed.
"""

from __future__ import annotations

import configparser
import fcntl
import itertools
import re
import shlex
import shutil
import subprocess
import venv
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aide_testing import activate

CI = Path(__file__).resolve().parents[1] / "ci"
GITHUB = CI / "github-actions.yml"
GITLAB = CI / "gitlab-ci.yml"
CRONTAB = CI / "cron" / "aide.crontab"
SYSTEMD = CI / "systemd"
ENV_EXAMPLE = CI / "aide.env.example"
CADENCES = ("daily", "weekly", "monthly")
PLACEHOLDER_CHECKOUT = "/opt/health-suite"

_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- )?(?P<key>[\w.$-]+):(?: +(?P<value>.*))?$")
_ITEM_LINE = re.compile(r"^(?P<indent> *)- (?P<value>.+)$")
_PYTEST_ARGS = re.compile(r"(?<![\w/-])(?:\S*/)?pytest(?=\s|$)(?P<args>(?: +[^\s>&|;#]+)*)")


# --- a minimal YAML structure reader -----------------------------------------------------------------------


def yaml_paths(text: str) -> dict[str, list[str]]:
    """Dotted key path -> the scalar values found there (list items included), for block-style YAML.

    Raises ValueError on a line that is neither ``key: value`` nor ``- item``, on tabs and on odd indents,
    so a file must at least have the shape of YAML to pass.
    """
    paths: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []  # (indent of the key, key)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split(" #")[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not stripped:
            continue
        if "\t" in line or (len(line) - len(line.lstrip(" "))) % 2:
            raise ValueError(f"line {number}: tab or odd indentation")
        key_match = _KEY_LINE.match(stripped)
        item_match = _ITEM_LINE.match(stripped)
        if key_match:
            indent = len(key_match["indent"]) + (2 if key_match["dash"] else 0)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key_match["key"]))
            value = (key_match["value"] or "").strip()
            paths.setdefault(".".join(k for _, k in stack), []).extend([value] if value else [])
        elif item_match:
            indent = len(item_match["indent"])
            while stack and stack[-1][0] > indent:  # "key:" then "- item" may share an indent
                stack.pop()
            paths.setdefault(".".join(k for _, k in stack), []).append(item_match["value"].strip())
        else:
            raise ValueError(f"line {number}: neither 'key: value' nor '- item': {line!r}")
    return paths


def job_blocks(text: str) -> dict[str, str]:
    """The text of each job under the top-level ``jobs:`` key of a GitHub workflow."""
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    inside = False
    for line in text.splitlines():
        if re.match(r"^[^\s#]", line):
            inside, current = line.startswith("jobs:"), None
            continue
        match = re.match(r"^  ([\w.-]+):", line)
        if inside and match:
            current = match[1]
            blocks[current] = []
        if current is not None:
            blocks[current].append(line)
    return {name: "\n".join(lines) for name, lines in blocks.items()}


def strip_comments(text: str) -> str:
    return "\n".join(line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_yaml_reader_rejects_what_is_not_yaml_shaped() -> None:
    assert yaml_paths("a:\n  b:\n    - x\n    - y: 1\n") == {"a": [], "a.b": ["x"], "a.b.y": ["1"]}
    with pytest.raises(ValueError, match="line 2"):
        yaml_paths("a:\n  just words\n")
    with pytest.raises(ValueError, match="odd indentation"):
        yaml_paths("a:\n   b: 1\n")
    assert yaml_paths("") == {}


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_yaml_parses_with_pyyaml_when_installed(path: Path) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not a dependency; the structural tests still run")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    assert set(yaml_paths(path.read_text(encoding="utf-8"))) >= {str(k) for k in data if k is not True}


# --- GitHub Actions ----------------------------------------------------------------------------------------


def test_github_workflow_has_triggers_secrets_and_jobs() -> None:
    paths = yaml_paths(GITHUB.read_text(encoding="utf-8"))
    assert {"name", "on.push", "on.workflow_dispatch", "on.schedule.cron", "jobs"} <= set(paths)
    assert paths["env.AIDE_APP_URL"] == ["${{ secrets.AIDE_APP_URL }}"]
    assert paths["env.AIDE_DB_URL"] == ["${{ secrets.AIDE_DB_URL }}"]
    for job in ("gate", "deploy", *CADENCES):
        assert paths[f"jobs.{job}.runs-on"], job
    assert paths["jobs.deploy.needs"] == ["gate"]
    for job in ("gate", *CADENCES):
        assert paths[f"jobs.{job}.timeout-minutes"], job
        assert paths[f"jobs.{job}.steps.with.cache"] == ["pip"], job


def test_github_gate_decides_by_exit_status() -> None:
    gate = job_blocks(GITHUB.read_text(encoding="utf-8"))["gate"]
    code = strip_comments(gate)
    assert "- run: pytest -m gate --aide-fail-under=70" in code
    assert "continue-on-error" not in code  # a failing gate must fail the job
    assert "github.event_name != 'schedule'" in code


def _cron_kind(expression: str) -> str:
    minute, hour, dom, month, dow = expression.split()
    assert "*" not in (minute, hour), expression
    assert month == "*", expression
    return "monthly" if dom != "*" else "weekly" if dow != "*" else "daily"


@pytest.mark.parametrize("cadence", CADENCES)
def test_github_scheduled_job_runs_its_marker_on_its_cron_and_uploads_reports(cadence: str) -> None:
    text = GITHUB.read_text(encoding="utf-8")
    crons = [c.strip('"') for c in yaml_paths(text)["on.schedule.cron"]]
    job = strip_comments(job_blocks(text)[cadence])
    schedule = re.search(r"if: github\.event\.schedule == '([^']+)'", job)
    assert schedule is not None
    assert schedule[1] in crons
    assert _cron_kind(schedule[1]) == cadence
    assert f"- run: pytest -m {cadence}\n" in job
    upload = job[job.index("actions/upload-artifact") :]
    assert "if: always()" in upload
    assert "path: reports/" in upload


def test_github_each_cron_drives_exactly_one_job() -> None:
    text = GITHUB.read_text(encoding="utf-8")
    crons = [c.strip('"') for c in yaml_paths(text)["on.schedule.cron"]]
    used = re.findall(r"github\.event\.schedule == '([^']+)'", text)
    assert sorted(crons) == sorted(used)
    assert len(set(crons)) == 3


# --- GitLab CI ---------------------------------------------------------------------------------------------


def test_gitlab_artifacts_and_junit_report() -> None:
    paths = yaml_paths(GITLAB.read_text(encoding="utf-8"))
    assert paths["stages"] == ["[gate, deploy, health]"]
    assert paths[".aide.artifacts.when"] == ["always"]
    assert paths[".aide.artifacts.paths"] == ["[reports/]"]
    assert paths[".aide.artifacts.reports.junit"] == ["reports/*/junit.xml"]
    assert paths[".aide.cache.paths"] == ["[.cache/pip]"]
    assert paths["variables.PIP_CACHE_DIR"] == ['"$CI_PROJECT_DIR/.cache/pip"']
    assert paths["deploy.needs"] == ["[gate]"]


def test_gitlab_gate_never_runs_on_schedules() -> None:
    paths = yaml_paths(GITLAB.read_text(encoding="utf-8"))
    assert paths["gate.script"] == ["pytest -m gate --aide-fail-under=70"]
    assert paths["gate.extends"] == [".aide"]
    assert paths["gate.rules.if"][0] == '$CI_PIPELINE_SOURCE == "schedule"'
    assert paths["gate.rules.when"] == ["never"]


@pytest.mark.parametrize("cadence", CADENCES)
def test_gitlab_scheduled_job_runs_its_marker_only_on_its_schedule(cadence: str) -> None:
    paths = yaml_paths(GITLAB.read_text(encoding="utf-8"))
    assert paths[f"{cadence}.extends"] == [".aide"]
    assert paths[f"{cadence}.script"] == [f"pytest -m {cadence}"]
    assert paths[f"{cadence}.rules.if"] == [f'$CI_PIPELINE_SOURCE == "schedule" && $AIDE_SCHEDULE == "{cadence}"']
    assert paths[f"{cadence}.timeout"]


# --- every pytest command line in every template -----------------------------------------------------------


def pytest_commands() -> Iterator[tuple[str, list[str]]]:
    """(file name, arguments) of each ``pytest`` invocation outside comments."""
    files = [GITHUB, GITLAB, CRONTAB, *sorted(SYSTEMD.glob("*.service"))]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("#"):
                continue
            for match in _PYTEST_ARGS.finditer(line):
                yield path.name, shlex.split(match["args"])


def test_every_template_selects_the_markers_it_is_for() -> None:
    selected: dict[str, set[str]] = {}
    for name, args in pytest_commands():
        assert "-m" in args, (name, args)
        selected.setdefault(name, set()).add(args[args.index("-m") + 1])
    assert selected == {
        GITHUB.name: {"gate", *CADENCES},
        GITLAB.name: {"gate", *CADENCES},
        CRONTAB.name: set(CADENCES),
        "aide-daily.service": {"daily"},
        "aide-weekly.service": {"weekly"},
    }


def test_every_pytest_command_parses_and_uses_registered_markers(pytester: pytest.Pytester) -> None:
    activate(pytester)
    config = pytester.parseconfigure("--aide-no-archive")
    registered = {line.split(":")[0].split("(")[0] for line in config.getini("markers")}
    assert {"gate", *CADENCES} <= registered
    for name, args in pytest_commands():
        parsed = pytester.parseconfig(*args)  # the plugin's real option parser: bad flags or values fail
        markexpr = parsed.getoption("markexpr")
        assert set(re.findall(r"\w+", markexpr)) - {"and", "or", "not"} <= registered, (name, markexpr)


# --- systemd -----------------------------------------------------------------------------------------------


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # systemd keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


@pytest.mark.parametrize("cadence", ["daily", "weekly"])
def test_systemd_service_is_a_bounded_oneshot_with_secrets_from_a_file(cadence: str) -> None:
    unit = read_unit(SYSTEMD / f"aide-{cadence}.service")
    assert unit.sections() == ["Unit", "Service"]
    service = unit["Service"]
    assert service["Type"] == "oneshot"
    assert re.fullmatch(r"\d+min", service["TimeoutStartSec"])
    assert service["EnvironmentFile"].startswith("/")
    assert service["ExecStart"] == f"{PLACEHOLDER_CHECKOUT}/.venv/bin/pytest -q -m {cadence}"
    assert service["WorkingDirectory"] == PLACEHOLDER_CHECKOUT
    assert service["KillSignal"] == "SIGINT"  # pytest writes its reports when interrupted


@pytest.mark.parametrize("cadence", ["daily", "weekly"])
def test_systemd_timer_is_persistent_and_spread(cadence: str) -> None:
    unit = read_unit(SYSTEMD / f"aide-{cadence}.timer")
    assert unit.sections() == ["Unit", "Timer", "Install"]
    timer = unit["Timer"]
    assert timer["Persistent"] == "true"
    assert re.fullmatch(r"\d+min", timer["RandomizedDelaySec"])
    assert timer["OnCalendar"].startswith("Mon " if cadence == "weekly" else "*-*-* ")
    assert unit["Install"]["WantedBy"] == "timers.target"


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    """Verified with the placeholder checkout pointing at a real one, since verify requires ExecStart to exist."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    checkout = tmp_path / "checkout"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "pytest").write_text("#!/bin/sh\n", encoding="utf-8")
    (checkout / ".venv" / "bin" / "pytest").chmod(0o755)
    units = []
    for source in sorted(SYSTEMD.glob("aide-*")):
        text = source.read_text(encoding="utf-8")
        units.append(tmp_path / source.name)
        units[-1].write_text(text.replace(PLACEHOLDER_CHECKOUT, str(checkout)), encoding="utf-8")
    assert len(units) == 4
    done = subprocess.run(
        [analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")  # warnings (unknown keys...) count too


# --- cron --------------------------------------------------------------------------------------------------


def cron_entries() -> list[tuple[list[str], str]]:
    """(five time fields, command) of each job line."""
    entries = []
    for line in CRONTAB.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        fields = line.split(None, 5)
        entries.append((fields[:5], fields[5]))
    return entries


def cron_variables() -> dict[str, str]:
    lines = CRONTAB.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))


def _cron_values(field: str, low: int, high: int) -> set[int]:
    """The values a cron field matches (``*``, ``N``, ``A-B``, ``*/S``, comma lists; what the file uses)."""
    values: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        first, last = (low, high) if span == "*" else map(int, (span.split("-") * 2)[:2])
        if not low <= first <= last <= high:
            raise ValueError(f"{field!r} is outside {low}-{high}")
        values.update(range(first, last + 1, int(step or 1)))
    return values


def _limits(command: str) -> tuple[str, timedelta]:
    """The flock lock file and the worst-case run time (limit plus kill delay) of a cron command."""
    match = re.search(r"flock -n (\S+) timeout -s INT -k (\d+)m (\d+)m ", command)
    assert match is not None, command
    return match[1], timedelta(minutes=int(match[2]) + int(match[3]))


def test_crontab_lines_have_five_valid_time_fields_flock_and_timeout() -> None:
    entries = cron_entries()
    assert len(entries) == 5
    for fields, command in entries:
        for field, (low, high) in zip(fields, [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)], strict=True):
            assert _cron_values(field, low, high)
        assert "flock -n " in command
        assert " timeout " in command
        assert "%" not in command  # cron would turn it into a newline
        assert command.startswith('cd "$AIDE_HOME" && ')
        assert ". .venv/bin/activate" in command
    commands = [command for _, command in entries]
    for cadence in CADENCES:
        assert sum(f"pytest -q -m {cadence} " in c for c in commands) == 1, cadence
    assert sum(" aide backup " in c for c in commands) == 1
    assert sum(" aide prune " in c for c in commands) == 1


def test_crontab_jobs_sharing_a_lock_never_collide_as_planned() -> None:
    """Over five weeks from a Monday the 1st, each run ends (time limit + kill delay) before the next starts."""
    runs: dict[str, list[tuple[datetime, datetime]]] = {}
    for fields, command in cron_entries():
        minutes, hours, days, months, weekdays = (
            _cron_values(f, lo, hi)
            for f, (lo, hi) in zip(fields, [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)], strict=True)
        )
        assert fields[2] == "*" or fields[4] == "*", "cron ORs day-of-month and day-of-week; avoid both"
        lock, longest = _limits(command)
        day = datetime(2024, 1, 1)  # a Monday and the 1st: daily, weekly and monthly all fire
        while day < datetime(2024, 2, 5):
            if day.day in days and day.month in months and day.isoweekday() % 7 in {w % 7 for w in weekdays}:
                runs.setdefault(lock, []).extend(
                    (start, start + longest)
                    for start in (day.replace(hour=h, minute=m) for h in sorted(hours) for m in sorted(minutes))
                )
            day += timedelta(days=1)
    assert set(runs) == {".aide-checks.lock", ".aide-backup.lock"}
    for intervals in runs.values():
        intervals.sort()
        for (_, end), (next_start, _) in itertools.pairwise(intervals):
            assert end < next_start


@pytest.fixture
def cron_home(tmp_path: Path) -> dict[str, str]:
    """A checkout with a real virtualenv whose ``pytest`` and ``aide`` are stand-ins that record their call."""
    checkout = tmp_path / "checkout"
    venv.create(checkout / ".venv", with_pip=False, symlinks=True)
    for program in ("pytest", "aide"):
        stub = checkout / ".venv" / "bin" / program
        stub.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "$PWD" "$VIRTUAL_ENV" "$AIDE_DB_URL" {program} "$@" > calls.txt\necho "ran"\n',
            encoding="utf-8",
        )
        stub.chmod(0o755)
    (tmp_path / "log").mkdir()
    variables = cron_variables()
    assert {"AIDE_HOME", "AIDE_ENV", "AIDE_LOG", "PATH", "SHELL"} <= set(variables)
    return {**variables, "AIDE_HOME": str(checkout), "AIDE_ENV": str(ENV_EXAMPLE), "AIDE_LOG": str(tmp_path / "log")}


def _run_cron_command(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [env["SHELL"], "-c", command], env=env, capture_output=True, text=True, timeout=20, check=False
    )


def _example_db_url() -> str:
    match = re.search(r"^AIDE_DB_URL='([^']*)'$", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match is not None
    return match[1]


@pytest.mark.parametrize("index", range(5))
def test_crontab_line_runs_in_the_checkout_with_venv_and_secrets(index: int, cron_home: dict[str, str]) -> None:
    command = cron_entries()[index][1]
    done = _run_cron_command(command, cron_home)
    assert (done.returncode, done.stderr) == (0, "")
    checkout = Path(cron_home["AIDE_HOME"])
    lines = (checkout / "calls.txt").read_text(encoding="utf-8").splitlines()
    program_and_args = command.split(" 2m ", 1)[1].split(" >>")[0].split()[1:]  # after the time limit
    assert lines == [str(checkout), str(checkout / ".venv"), _example_db_url(), *program_and_args]
    log = re.search(r'>>"\$AIDE_LOG/([\w.]+)"', command)
    assert log is not None
    assert (Path(cron_home["AIDE_LOG"]) / log[1]).read_text(encoding="utf-8") == "ran\n"


@pytest.mark.parametrize("index", range(5))
def test_crontab_line_skips_while_its_lock_is_held(index: int, cron_home: dict[str, str]) -> None:
    command = cron_entries()[index][1]
    lock, _ = _limits(command)
    checkout = Path(cron_home["AIDE_HOME"])
    with (checkout / lock).open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = _run_cron_command(command, cron_home)
    assert done.returncode == 1
    assert not (checkout / "calls.txt").exists()
