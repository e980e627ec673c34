"""TLS certificate expiry of an https target (warning under 14 days left, critical under 7)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from pytest_aide.probes.tls import certificate_from_url

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="tls")]


def check_tls_certificate(aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    url = aide_config.settings.app.url
    if not url or urlsplit(url).scheme != "https":
        pytest.skip("not applicable: [app] url is not https")
    verify = aide_config.settings.app.verify_tls
    cafile = str(aide_config.path(verify)) if isinstance(verify, str) else None
    certificate = certificate_from_url(url, timeout=aide_config.settings.app.timeout, cafile=cafile)
    aide_health.record("tls_days_left", certificate.days_left)
    host = urlsplit(url).hostname
    assert certificate.verified or verify is False, f"certificate of {host} does not verify: {certificate.verify_error}"
