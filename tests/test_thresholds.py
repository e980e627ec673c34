"""Threshold evaluation, per-level merging, and the shipped catalogue (SEEDS.md's table, the suite, the README)."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.metrics import DEFAULT_METRICS, MetricSpec, nearest
from pytest_aide.ranges import NagiosRange
from pytest_aide.status import Status
from pytest_aide.thresholds import REMOVED, Threshold, ThresholdChange, ThresholdSet
from pytest_aide.trends import TREND_SOURCES

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "pytest_aide" / "suite" / "aide"

# metric: (warning, critical) exactly as SEEDS.md's "Default thresholds" table gives them.
SEEDS_TABLE = {
    "response_time_s": ("1", "3"),
    "throughput_ops": ("100:", "50:"),
    "error_rate_percent": ("1", "5"),
    "cpu_percent": ("70", "85"),
    "memory_percent": ("80", "90"),
    "disk_percent": ("80", "90"),
    "log_errors": ("10", None),
    "log_size_mb": ("100", None),
    "monthly_cost_jpy": ("3000", "5000"),
    "trend_cpu_percent": ("80", None),
    "trend_memory_percent": ("85", None),
    "trend_api_s": ("5", None),
    "trend_db_query_s": ("1", None),
    "db_query_s": ("1", None),
    "health_score": ("90:", "40:"),
    "free_disk_percent": (None, "5:"),  # the seeds' 1 GB minimum holds on the data volume only: test_disk_rules.py
}


@pytest.mark.parametrize(("metric", "expected"), SEEDS_TABLE.items(), ids=list(SEEDS_TABLE))
def test_shipped_defaults_equal_the_seeds_table(metric: str, expected: tuple[str | None, str | None]) -> None:
    warning, critical = expected
    assert ThresholdSet.defaults().get(metric).to_dict() == {"warning": warning, "critical": critical}


@pytest.mark.parametrize(
    ("metric", "value", "status"),
    [
        ("response_time_s", 0.5, Status.OK),
        ("response_time_s", 2, Status.WARNING),
        ("response_time_s", 3.5, Status.CRITICAL),
        ("throughput_ops", 150, Status.OK),
        ("throughput_ops", 75, Status.WARNING),
        ("throughput_ops", 40, Status.CRITICAL),
        ("error_rate_percent", 0.5, Status.OK),
        ("error_rate_percent", 3, Status.WARNING),
        ("error_rate_percent", 6, Status.CRITICAL),
        ("cpu_percent", 69, Status.OK),
        ("cpu_percent", 70, Status.OK),  # Nagios ranges include their end
        ("cpu_percent", 70.1, Status.WARNING),
        ("cpu_percent", 85.1, Status.CRITICAL),
        ("memory_percent", 85, Status.WARNING),
        ("memory_percent", 93.2, Status.CRITICAL),
        ("disk_percent", 79, Status.OK),
        ("disk_percent", 91, Status.CRITICAL),
        ("log_errors", 10, Status.OK),
        ("log_errors", 11, Status.WARNING),
        ("log_errors", 10_000, Status.WARNING),
        ("monthly_cost_jpy", 2999, Status.OK),
        ("monthly_cost_jpy", 4000, Status.WARNING),
        ("monthly_cost_jpy", 5001, Status.CRITICAL),
        ("health_score", 95, Status.OK),
        ("health_score", 80, Status.WARNING),
        ("health_score", 39, Status.CRITICAL),
        ("free_disk_percent", 4.9, Status.CRITICAL),
        ("free_disk_percent", 5, Status.OK),
    ],
)
def test_defaults_classify_like_the_manuals(metric: str, value: float, status: Status) -> None:
    assert ThresholdSet.defaults().get(metric).evaluate(value) is status


def test_every_default_metric_parses_and_has_an_action() -> None:
    defaults = ThresholdSet.defaults()
    for name, spec in DEFAULT_METRICS.items():
        assert name in defaults
        assert spec.action.strip(), name


def test_critical_beats_warning_when_both_alert() -> None:
    threshold = Threshold.parse("10", "20")
    assert threshold.evaluate(25) is Status.CRITICAL
    assert threshold.evaluate(15) is Status.WARNING
    assert threshold.evaluate(5) is Status.OK


def test_critical_only_and_warning_only() -> None:
    assert Threshold.parse(None, "20").evaluate(15) is Status.OK
    assert Threshold.parse(None, "20").evaluate(25) is Status.CRITICAL
    assert Threshold.parse("10", None).evaluate(1e9) is Status.WARNING


def test_metric_without_thresholds_is_ok_for_any_value() -> None:
    thresholds = ThresholdSet.defaults()
    assert "nobody_configured_this" not in thresholds
    assert thresholds.get("nobody_configured_this").evaluate(1e300) is Status.OK
    assert Threshold.parse("", None) == Threshold()


def test_overrides_replace_only_the_named_metric() -> None:
    base = ThresholdSet.defaults()
    changed = base.with_overrides({"cpu_percent": Threshold.parse("50", "60")})
    assert changed.get("cpu_percent").evaluate(55) is Status.WARNING
    assert base.get("cpu_percent").evaluate(55) is Status.OK  # the original set is untouched
    assert changed.get("memory_percent") == base.get("memory_percent")


def test_broken_range_names_the_range_behind_a_status() -> None:
    threshold = Threshold.parse("10", "20")
    assert threshold.broken_range(Status.CRITICAL) == threshold.critical
    assert threshold.broken_range(Status.WARNING) == threshold.warning
    assert threshold.broken_range(Status.OK) is None


@pytest.mark.parametrize(("warning", "critical", "level"), [("abc", "5", "warning"), ("5", "9:1", "critical")])
def test_bad_range_error_names_the_level(warning: str, critical: str, level: str) -> None:
    with pytest.raises(ValueError, match=rf"^{level}: ") as info:
        Threshold.parse(warning, critical)
    assert "\n" not in str(info.value)


@given(
    warning=st.floats(0, 1e6, allow_nan=False),
    critical=st.floats(0, 1e6, allow_nan=False),
    value=st.floats(allow_nan=False),
)
def test_status_is_the_most_severe_alerting_range(warning: float, critical: float, value: float) -> None:
    threshold = Threshold.parse(warning, critical)
    expected = (
        Status.CRITICAL if not 0 <= value <= critical else Status.WARNING if not 0 <= value <= warning else Status.OK
    )
    assert threshold.evaluate(value) is expected


# --- per-level changes ---------------------------------------------------------------------------------------


def test_a_change_sets_only_the_levels_it_names() -> None:
    base = Threshold.parse("1", "3")
    assert ThresholdChange.parse("2", None).apply(base).to_dict() == {"warning": "2", "critical": "3"}
    assert ThresholdChange.parse(None, "9").apply(base).to_dict() == {"warning": "1", "critical": "9"}
    assert ThresholdChange.parse(None, None).apply(base) == base


def test_a_level_is_removed_only_by_false() -> None:
    base = Threshold.parse("1", "3")
    change = ThresholdChange.parse("2", False)
    assert change.critical is REMOVED
    assert change.apply(base).to_dict() == {"warning": "2", "critical": None}
    assert change.apply(base).evaluate(100) is Status.WARNING


@pytest.mark.parametrize("value", [True, ""])
def test_true_and_empty_text_are_not_levels(value: str | bool) -> None:
    with pytest.raises(ValueError, match=r"^critical: .* is not a range \(.*false to remove it\)$"):
        ThresholdChange.parse(None, value)


def test_with_changes_merges_per_level_and_leaves_the_base_untouched() -> None:
    base = ThresholdSet.defaults()
    changed = base.with_changes({"response_time_s": ThresholdChange.parse("2", None)})
    assert changed.get("response_time_s").to_dict() == {"warning": "2", "critical": "3"}
    assert base.get("response_time_s").to_dict() == {"warning": "1", "critical": "3"}
    assert changed.metrics == base.metrics


_CHANGE = st.one_of(st.none(), st.just(False), st.sampled_from(["5", "10:", "~:3", "@1:2", 7.5]))
_BASE = st.sampled_from([None, "1", "100:", "@0:5"])


@given(base_warning=_BASE, base_critical=_BASE, warning=_CHANGE, critical=_CHANGE)
def test_each_level_is_kept_removed_or_set_independently(
    base_warning: str | None,
    base_critical: str | None,
    warning: str | float | bool | None,
    critical: str | float | bool | None,
) -> None:
    base = Threshold.parse(base_warning, base_critical)
    merged = ThresholdChange.parse(warning, critical).apply(base)
    for change, kept, result in ((warning, base.warning, merged.warning), (critical, base.critical, merged.critical)):
        if change is None:
            assert result == kept
        elif change is False:
            assert result is None
        else:
            assert result == NagiosRange.parse(change)


def test_declared_metrics_join_the_catalogue_with_their_default_levels() -> None:
    spec = MetricSpec("jobs", "100", None, "scale the workers")
    thresholds = ThresholdSet.defaults().with_metrics({"queue_depth": spec})
    assert thresholds.knows("queue_depth")
    assert thresholds.spec("queue_depth") == spec
    assert thresholds.get("queue_depth").evaluate(150) is Status.WARNING
    assert not ThresholdSet.defaults().knows("queue_depth")


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("respons_time_s", "response_time_s"), ("memory_pct", "memory_percent"), ("cpu", None), ("xyzzy", None)],
)
def test_nearest_known_name(typo: str, expected: str | None) -> None:
    assert nearest(typo, DEFAULT_METRICS) == expected


# --- the catalogue covers every metric the shipped suite records -------------------------------------------


class _Recorded(ast.NodeVisitor):
    """``*health.record(NAME, value, UNIT)`` calls of one module, f-string names expanded over literal loops."""

    def __init__(self) -> None:
        self.loops: dict[str, list[str]] = {}
        self.names: list[tuple[str, str | None]] = []  # (metric name, literal unit or None)
        self.unresolved: list[int] = []  # line numbers of names the scan cannot read

    def visit_For(self, node: ast.For) -> None:
        items = node.iter.elts if isinstance(node.iter, ast.Tuple | ast.List) else []
        values = [e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if isinstance(node.target, ast.Name) and values and len(values) == len(items):
            outer = self.loops.get(node.target.id)
            self.loops[node.target.id] = values
            self.generic_visit(node)
            self.loops.pop(node.target.id)
            if outer is not None:
                self.loops[node.target.id] = outer
        else:
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "record" and "health" in ast.unparse(func.value):
            unit = node.args[2].value if len(node.args) > 2 and isinstance(node.args[2], ast.Constant) else None
            names = self._expand(node.args[0])
            if names is None:
                self.unresolved.append(node.lineno)
            self.names.extend((name, unit) for name in names or [])
        self.generic_visit(node)

    def _expand(self, arg: ast.expr) -> list[str] | None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return [arg.value]
        if not isinstance(arg, ast.JoinedStr):
            return None
        parts: list[list[str]] = []
        for part in arg.values:
            if isinstance(part, ast.Constant):
                parts.append([str(part.value)])
            elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
                if part.value.id not in self.loops:
                    return None
                parts.append(self.loops[part.value.id])
            else:
                return None
        return ["".join(combo) for combo in itertools.product(*parts)]


def suite_records() -> dict[str, list[tuple[str, str | None]]]:
    """Every module of the shipped suite -> the names it records (check_trends: the trend metrics it feeds)."""
    found = {}
    for path in sorted(SUITE.glob("*.py")):
        visitor = _Recorded()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        if visitor.unresolved:
            # check_trends records the trend metrics it computes from the history (TREND_SOURCES names them) and
            # one forecast_days per forecast series (named after the series, judged as metric forecast_days)
            assert path.name == "check_trends.py", f"{path.name}:{visitor.unresolved}: teach this scan the name"
            visitor.names.extend((name, None) for name in [*TREND_SOURCES.values(), "forecast_days"])
        found[path.name] = visitor.names
    return found


def test_the_scan_sees_literal_and_f_string_names() -> None:
    records = suite_records()
    assert ("network_bytes_recv_per_s", "B/s") in records["check_resources.py"]
    assert ("network_bytes_sent_total", "B") in records["check_resources.py"]
    assert ("rss_mb", "MB") in records["check_processes.py"]
    assert ("trend_api_s", None) in records["check_trends.py"]
    assert sum(len(names) for names in records.values()) >= 40


def test_every_metric_the_suite_records_is_in_the_catalogue_with_its_unit() -> None:
    missing, wrong_unit = [], []
    for module, names in suite_records().items():
        for name, unit in names:
            if name not in DEFAULT_METRICS:
                missing.append(f"{module}: {name}")
            elif unit is not None and unit != DEFAULT_METRICS[name].unit:
                wrong_unit.append(f"{module}: {name} records {unit!r}, catalogue says {DEFAULT_METRICS[name].unit!r}")
    assert not missing, f"add to pytest_aide/metrics.py: {missing}"
    assert not wrong_unit


# --- the README's threshold table is the catalogue ---------------------------------------------------------


def _level_cell(text: str | None, unit: str) -> str:
    if text is None:
        return ""
    return f"`{text}` ({NagiosRange.parse(text).describe()}{' ' + unit if unit else ''})"


def readme_row(name: str, spec: MetricSpec) -> str:
    """The row the README's threshold table must hold for ``name`` (run this to regenerate the table)."""
    cells = [f"`{name}`", spec.unit, _level_cell(spec.warning, spec.unit), _level_cell(spec.critical, spec.unit)]
    return "| " + " | ".join([*cells, spec.action]).replace("  ", " ") + " |"


def readme_threshold_rows() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n### Thresholds\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if re.match(r"^\| `\w+` \|", line)]


def test_readme_threshold_table_equals_the_catalogue() -> None:
    expected = [readme_row(name, spec) for name, spec in DEFAULT_METRICS.items()]
    actual = readme_threshold_rows()
    assert sorted(actual) == sorted(expected), "\n".join(sorted(set(expected) ^ set(actual)))
