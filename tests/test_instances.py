"""Per-instance settings: an inventory item given as a table carries thresholds for that item only."""

from __future__ import annotations

import pytest
from aide_testing import aide_run, latest_health, statuses

from pytest_aide.config import load_config
from pytest_aide.errors import ConfigError
from pytest_aide.inventory import cases

TWO_DISKS = """
[resources]
disk_paths = ["a", { path = "b", thresholds = { disk_percent = { warning = "40" } } }]
"""

CHECK = """
def check_disk(aide_disk_path, aide_health):
    aide_health.record("disk_percent", 50.0)
"""


def test_an_items_thresholds_apply_to_that_item_only(pytester: pytest.Pytester) -> None:
    pytester.mkdir("a")
    pytester.mkdir("b")
    pytester.makefile(".toml", aide=TWO_DISKS)
    pytester.makepyfile(check_d=CHECK)
    aide_run(pytester)
    found = statuses(latest_health(pytester.path))
    assert found == {"check_disk[a]": "OK", "check_disk[b]": "WARNING"}
    check = next(c for c in latest_health(pytester.path)["checks"] if c["nodeid"].endswith("[b]"))
    assert check["measurements"]["disk_percent"]["warning"] == "40"
    assert check["measurements"]["disk_percent"]["critical"] == "90"  # the level it did not name is kept


def test_the_command_line_still_wins_over_an_items_thresholds(pytester: pytest.Pytester) -> None:
    pytester.mkdir("a")
    pytester.mkdir("b")
    pytester.makefile(".toml", aide=TWO_DISKS)
    pytester.makepyfile(check_d=CHECK)
    aide_run(pytester, "--aide-threshold=disk_percent=60")
    assert statuses(latest_health(pytester.path)) == {"check_disk[a]": "OK", "check_disk[b]": "OK"}


def test_an_endpoint_carries_its_own_thresholds(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml",
        aide='[[endpoints]]\nname = "slow"\npath = "/s"\nthresholds = { response_time_s = { warning = "0.1" } }\n'
        '[[endpoints]]\nname = "fast"\npath = "/f"\n',
    )
    pytester.makepyfile(
        check_e="def check_ep(aide_endpoint, aide_health):\n    aide_health.record('response_time_s', 0.5)\n"
    )
    aide_run(pytester)
    assert statuses(latest_health(pytester.path)) == {"check_ep[slow]": "WARNING", "check_ep[fast]": "OK"}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[resources]\nports = [80, { port = 443, thresholds = { open_file = { warning = "9" } } }]\n',
            "[resources] ports #2 thresholds.open_file: unknown metric 'open_file'",
        ),
        (
            '[logs]\nfiles = [{ path = "x.log", thresholds = { log_errors = { warning = "9:1" } } }]\n',
            "[logs] files #1 thresholds.log_errors warning: '9:1' is not a Nagios range",
        ),
        ('[resources]\nprocesses = [{ nam = "nginx" }]\n', "[resources] processes"),
    ],
)
def test_a_mistake_in_an_item_names_where_it_stands(tmp_path: object, toml: str, message: str) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "aide.toml").write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(folder / "aide.toml", rootdir=folder, environ={})
    assert message in str(info.value)


def test_strings_and_tables_mix_and_keep_readable_ids(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "aide.toml").write_text(
        '[resources]\nprocesses = ["nginx", { name = "gunicorn" }]\nports = [80, { port = 8000 }]\n'
        'pidfiles = [{ path = "/run/nginx.pid" }]\n'
    )
    config = load_config(folder / "aide.toml", rootdir=folder, environ={})
    assert [(c.id, c.value) for c in cases(config, "aide_process_name")] == [
        ("nginx", "nginx"),
        ("gunicorn", "gunicorn"),
    ]
    assert [(c.id, c.value) for c in cases(config, "aide_port")] == [("80", 80), ("8000", 8000)]
    assert [c.id for c in cases(config, "aide_pidfile")] == ["nginx.pid"]
