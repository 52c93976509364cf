"""The http connection's credentials stay with their origin across redirects:
two fake sites on 127.0.0.1 (another port is another origin), the real client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pawflow_http
import pytest

from tests.fakes.redirects import FakeSite, localhost_tls

SECRET = "Bearer s3cr3t-value"


@pytest.fixture
def site() -> Iterator[FakeSite]:
    with FakeSite().running() as fake:
        yield fake


@pytest.fixture
def elsewhere() -> Iterator[FakeSite]:
    with FakeSite().running() as fake:
        yield fake


def _client(base_url: str, header: str) -> pawflow_http.HttpClient:
    values = pawflow_http.INTEGRATION.resolve(
        {"base_url": base_url, "auth_header": SECRET, "auth_header_name": header, "retries": "0"}
    )
    client: pawflow_http.HttpClient = pawflow_http.INTEGRATION.client(values)
    # A cookie set by hand is a credential too.
    client.headers["Cookie"] = "sid=s3cr3t-cookie"
    return client


def _via(to: str, status: int) -> str:
    return "redirect?" + urlencode({"to": to, "status": status})


def _credentials(fake: FakeSite, path: str, header: str) -> list[tuple[str | None, str | None]]:
    return [
        (seen.headers.get(header), seen.headers.get("Cookie")) for seen in fake.seen("GET", path)
    ]


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key"])
@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_to_another_port_drops_the_credentials(
    site: FakeSite, elsewhere: FakeSite, header: str, status: int
) -> None:
    with _client(site.url, header) as client:
        response = client.get(_via(elsewhere.url + "/page", status))
    assert response.status_code == 200 and response.json() == {"page": True}
    assert [r.status_code for r in response.history] == [status]
    assert _credentials(site, "/redirect", header) == [(SECRET, "sid=s3cr3t-cookie")]
    assert _credentials(elsewhere, "/page", header) == [(None, None)]


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key"])
def test_a_redirect_within_the_origin_keeps_the_auth_header(site: FakeSite, header: str) -> None:
    with _client(site.url, header) as client:
        response = client.get(_via(site.url + "/page", 302))
    assert response.status_code == 200
    # (requests sends a cookie set by hand with no redirected request at all)
    assert _credentials(site, "/page", header)[0][0] == SECRET


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key"])
def test_a_redirect_to_another_host_drops_the_auth_header(site: FakeSite, header: str) -> None:
    # Same address and port, another host name: another origin all the same.
    port = urlsplit(site.url).port
    with _client(site.url, header) as client:
        response = client.get(_via(f"http://localhost:{port}/page", 302))
    assert response.status_code == 200
    assert _credentials(site, "/page", header) == [(None, None)]


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key"])
def test_a_redirect_from_https_to_http_drops_the_auth_header(
    tmp_path: Path, elsewhere: FakeSite, header: str
) -> None:
    context, cert = localhost_tls(tmp_path)
    with FakeSite(ssl_context=context).running() as secure, _client(secure.url, header) as client:
        # The site ends each connection itself: a kept-alive TLS one would still be
        # shutting down when the site's loop stops.
        client.headers["Connection"] = "close"
        # Per request: the environment's CA bundle would win over client.verify.
        kept = client.get(_via(secure.url + "/page", 302), verify=str(cert))
        dropped = client.get(_via(elsewhere.url + "/page", 302), verify=str(cert))
    assert secure.url.startswith("https://") and kept.status_code == dropped.status_code == 200
    assert _credentials(secure, "/page", header)[0][0] == SECRET
    assert _credentials(elsewhere, "/page", header) == [(None, None)]
