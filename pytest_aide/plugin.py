"""pytest-aide's entry point: options and hookspecs always; everything else only in a run that has an aide
configuration (``aide.toml`` or ``[tool.aide]`` found from the invocation folder, ``--aide-config=PATH`` or
``AIDE_CONFIG``; see :mod:`pytest_aide.discovery`).

In any other pytest project on the machine the plugin is inert: this module imports only the standard library,
pytest and two small modules of its own (option parsing, the count of runs under way), adds no fixture, no
collection rule, no marker, no report and no exit-status change. The active wiring lives in
:mod:`pytest_aide.wiring` and is imported and registered only once a configuration is found.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from pytest_aide import collected, options

SPACED_CONFIG_REMEDY = (
    "--aide-config PATH (with a space): pytest chooses its rootdir before it knows this option and would take "
    "PATH for a test path; write --aide-config=PATH or set AIDE_CONFIG=PATH"
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_aide import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aide", "pytest-aide health checks (active only with an aide configuration)")
    add = group.addoption
    add("--aide-config", metavar="PATH", type=Path, help=options.HELP["config"])
    add("--aide-app-url", metavar="URL", help=options.HELP["app_url"])
    add("--aide-reports", metavar="DIR", help=options.HELP["reports"])
    add("--aide-no-archive", action="store_true", default=None, help=options.HELP["no_archive"])
    add("--aide-fail-on", choices=("critical", "warning"), help=options.HELP["fail_on"])
    add("--aide-fail-under", metavar="SCORE", type=options.score_type, help=options.HELP["fail_under"])
    add("--aide-concurrency", metavar="N", type=options.concurrency_type, help=options.HELP["concurrency"])
    add(
        "--aide-threshold",
        metavar="METRIC=W,C",
        action="append",
        type=options.threshold_type,
        default=[],
        help=options.HELP["threshold"],
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-html and junitxml read their report paths
def pytest_configure(config: pytest.Config) -> None:
    # Every run is counted, so that a run inside another one's test knows it is nested; the count is given back
    # by the config's cleanup, which pytest runs even when an unconfigure hook raises.
    collected.run_started()
    config.add_cleanup(collected.run_ended)
    if config.getoption("help") or config.getoption("version"):
        return
    if _spaced_config_option(config):
        raise pytest.UsageError(SPACED_CONFIG_REMEDY)
    from pytest_aide.discovery import find_config
    from pytest_aide.errors import ConfigError

    workerinput = getattr(config, "workerinput", None)
    try:
        if workerinput is not None:  # xdist worker: the controller decided
            path = workerinput.get("aide_config_path")
            found = find_config(config.invocation_params.dir, explicit=Path(path)) if path else None
        else:
            found = find_config(
                config.invocation_params.dir, explicit=config.getoption("aide_config"), rootdir=config.rootpath
            )
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if found is None:
        return  # not an aide run: stay out of the way
    if workerinput is None:
        from pytest_aide import earlyprobes

        earlyprobes.start(config)  # boots while the configuration loads
    from pytest_aide import wiring

    wiring.activate(config, found)


def _spaced_config_option(config: pytest.Config) -> bool:
    """Whether ``--aide-config`` was given as two words (pytest#8846: the rootdir would be chosen wrongly)."""
    args = [*config.invocation_params.args, *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    return "--aide-config" in args
