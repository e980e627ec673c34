"""Retention: restic's meanings, never a foreign file, never the newest verified set; stale temp cleanup."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aide.backup import BackupManager, RetentionPolicy, parse_backup_config
from pytest_aide.backup.retention import SetInfo, plan
from pytest_aide.redact import Redactor

START = datetime(2025, 1, 1, tzinfo=UTC)


def info(hours: float, *, complete: bool = True, verified: bool = False, n: int = 0) -> SetInfo:
    created = START + timedelta(hours=hours)
    return SetInfo(f"{created:%Y%m%dT%H%M%S}.{n:06d}Z-0000", created, complete, verified)


def test_keep_last_daily_weekly_follow_restic() -> None:
    # Two sets a day for 30 days: 06:00 and 18:00.
    sets = [info(day * 24 + hour) for day in range(30) for hour in (6, 18)]
    keep, remove = plan(sets, RetentionPolicy(keep_last=3, keep_daily=5, keep_weekly=3))
    newest_first = sorted(sets, key=lambda s: s.created, reverse=True)
    expected = {s.set_id for s in newest_first[:3]}  # last 3
    expected |= {s.set_id for s in newest_first if s.created.hour == 18 and s.created.day >= 26}  # 5 days
    weeks: dict[tuple[int, int], SetInfo] = {}
    for s in newest_first:
        weeks.setdefault(s.created.isocalendar()[:2], s)
    expected |= {s.set_id for s in list(weeks.values())[:3]}
    assert set(keep) == expected
    assert set(keep) | set(remove) == {s.set_id for s in sets}
    assert not set(keep) & set(remove)


def test_partial_sets_go_once_a_newer_complete_set_exists() -> None:
    old_partial, good, new_partial = info(1, complete=False), info(2), info(3, complete=False)
    keep, remove = plan([old_partial, good, new_partial], RetentionPolicy(keep_last=1, keep_daily=0, keep_weekly=0))
    assert keep == [new_partial.set_id, good.set_id]
    assert remove == [old_partial.set_id]


@settings(max_examples=200, deadline=None)
@given(
    hours=st.lists(st.floats(min_value=0, max_value=24 * 120, allow_nan=False), min_size=1, max_size=40),
    complete=st.lists(st.booleans(), min_size=40, max_size=40),
    verified_index=st.integers(min_value=-1, max_value=39),
    policy=st.builds(
        RetentionPolicy, keep_last=st.integers(1, 10), keep_daily=st.integers(0, 10), keep_weekly=st.integers(0, 10)
    ),
)
def test_plan_invariants(
    hours: list[float], complete: list[bool], verified_index: int, policy: RetentionPolicy
) -> None:
    sets = [
        info(h, complete=complete[i], n=i, verified=(i == verified_index and complete[i])) for i, h in enumerate(hours)
    ]
    keep, remove = plan(sets, policy)
    assert sorted(keep + remove) == sorted(s.set_id for s in sets)
    verified = sorted((s for s in sets if s.verified), key=lambda s: (s.created, s.set_id))
    if verified:
        assert verified[-1].set_id in keep, "the newest verified set is never removed"
    done = sorted((s for s in sets if s.complete), key=lambda s: (s.created, s.set_id), reverse=True)
    assert {s.set_id for s in done[: policy.keep_last]} <= set(keep)
    if done:
        assert done[0].set_id in keep, "the newest complete set is always kept"


def make_manager(tmp_path: Path, policy: dict[str, int]) -> BackupManager:
    (tmp_path / "notes.txt").write_text("hello")
    config = parse_backup_config(
        {"components": [{"name": "notes", "kind": "file", "source": "notes.txt"}], "retention": policy},
        source="aide.toml",
        base_dir=tmp_path,
    )
    return BackupManager(config, redactor=Redactor())


def test_prune_removes_only_our_sets_and_never_the_newest_verified(tmp_path: Path) -> None:
    manager = make_manager(tmp_path, {"keep_last": 1, "keep_daily": 0, "keep_weekly": 0})
    first = manager.create()
    assert manager.verify(first.set_id).ok
    second, third = manager.create(), manager.create()
    root = manager.config.dir
    foreign = [root / "notes-export.json", root / "19990101T000000.000000Z-dead", root / "keep-me"]
    foreign[0].write_text("{}")
    foreign[1].mkdir()  # named like a set but without our manifest
    (foreign[1] / "manifest.json").write_text('{"format": "someone-else", "set_id": "19990101T000000.000000Z-dead"}')
    foreign[2].mkdir()

    dry = manager.prune(dry_run=True)
    assert dry.removed == (second.set_id,)
    assert (root / second.set_id).exists()

    result = manager.prune()
    assert result.removed == (second.set_id,)
    assert set(result.kept) == {third.set_id, first.set_id}
    assert sorted(s.set_id for s in manager.list_sets()) == [first.set_id, third.set_id]
    assert all(p.exists() for p in foreign)


def test_prune_cleans_temp_folders_of_killed_backups_after_an_hour(tmp_path: Path) -> None:
    manager = make_manager(tmp_path, {})
    manager.create()
    root = manager.config.dir
    stale, fresh = root / ".tmp-20200101T000000.000000Z-abcd", root / ".tmp-20200101T000000.000001Z-abcd"
    other = root / ".tmp-not-ours"
    for folder in (stale, fresh, other):
        folder.mkdir()
        (folder / "part.zst").write_bytes(b"x")
    old = time.time() - 2 * 3600
    for path in (stale, stale / "part.zst", other, other / "part.zst"):
        os.utime(path, (old, old))
    result = manager.prune()
    assert result.temp_removed == (stale.name,)
    assert not stale.exists()
    assert fresh.exists()
    assert other.exists()
