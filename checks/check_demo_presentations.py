"""An operator's own check, beside the shipped suite: the demo app's share of failed presentations.

``pytest -m daily`` runs the shipped suite (pytest_aide/suite) together with every ``check_*.py`` here. A
check is an ordinary pytest function; it records measurements against thresholds (here inline, for a metric
the shipped catalogue does not know) and may assert facts with a message that says what to do.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly]


@pytest.mark.aide(component="presentations")
def check_failed_presentation_share(aide_db, aide_health):
    """Failed generations among the presentations of the database (warning over 20 %, critical over 50 %)."""
    total = aide_db.scalar("SELECT count(*) FROM generated_presentations")
    failed = aide_db.scalar("SELECT count(*) FROM generated_presentations WHERE status = 'failed'")
    assert total, "the demo database holds no presentation: regenerate it (delete .demo/ and run again)"
    share = 100.0 * failed / total
    aide_health.record("failed_presentations_percent", share, "%", warning="20", critical="50")
