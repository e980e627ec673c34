"""TLS certificate expiry (warning under 14 days left, critical under 7) of the https target and of every
``[tls] hosts`` entry; the certificate of the presented chain that expires first decides."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from pytest_aide.probes.tls import certificate_expiry, certificate_from_url

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from collections.abc import Callable

    from pytest_aide.config import AideConfig
    from pytest_aide.dependencies import Dependency
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.tls import TlsCertificate
    from pytest_aide.settings import TlsHostItem

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="tls")]


def _record(certificate: TlsCertificate, health: HealthRecorder, where: str) -> None:
    """Days left of the chain's first-expiring certificate, named in the message; the chain as evidence."""
    action = f"renew the TLS certificate: {where} presents the {certificate.expiring}"
    health.record("tls_days_left", certificate.days_left, action=action)
    health.attach(
        f"certificate chain of {where}",
        "\n".join(f"{c.describe()}, issued by {c.issuer}" for c in certificate.chain),
    )


@pytest.mark.aide(depends_on=["app"])
def check_tls_certificate(
    aide_config: AideConfig, aide_health: HealthRecorder, aide_dependency: Callable[[str, str], Dependency | None]
) -> None:
    """The certificate chain of ``[app] url`` when it is https (through the app's circuit: an app that is down
    makes this check blocked by its health check, at most one timeout)."""
    url = aide_config.settings.app.url
    if not url or urlsplit(url).scheme != "https":
        pytest.skip("not applicable: [app] url is not https")
    verify = aide_config.settings.app.verify_tls
    cafile = str(aide_config.path(verify)) if isinstance(verify, str) else None
    fetch = functools.partial(certificate_from_url, url, timeout=aide_config.settings.app.timeout, cafile=cafile)
    app = aide_dependency("app", url)
    certificate = app.call(fetch) if app is not None else fetch()
    host = urlsplit(url).hostname
    _record(certificate, aide_health, f"{host}:{certificate.port}")
    assert certificate.verified or verify is False, f"certificate of {host} does not verify: {certificate.verify_error}"


def check_tls_host(aide_tls_host: TlsHostItem, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """The certificate chain of one ``[tls] hosts`` entry (its own SNI name and CA bundle)."""
    host = aide_tls_host
    cafile = str(aide_config.path(host.ca_bundle)) if host.ca_bundle else None
    certificate = certificate_expiry(
        host.host,
        host.port,
        timeout=aide_config.settings.tls.timeout,
        server_name=host.server_name,
        cafile=cafile,
        starttls=host.starttls,
    )
    _record(certificate, aide_health, str(host))  # host:port, or server_name@host:port
    assert certificate.verified, f"certificate of {host} does not verify: {certificate.verify_error}"
