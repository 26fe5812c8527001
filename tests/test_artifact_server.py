"""The artifact server `csops up` runs: a stored renewal package opens at the URL
its store activity returned, over real HTTP; nothing outside the folder is served
and nothing can be written."""

from __future__ import annotations

import http.client
from datetime import date
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from support.renewal import package_of

from activities.renewal_sections import RenewalSectionActivities
from context.db import make_engine
from contracts.renewal import StorePackageInput
from csops.artifact_server import serve_artifacts
from csops.demo_book import generate_book

AS_OF = date(2026, 11, 1)


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "packages"
    server = serve_artifacts(folder, "http://127.0.0.1:8234", port=0)
    yield folder, server
    server.close()


def request(url: str, path: str, method: str = "GET", body: bytes | None = None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stored_package(tmp_path, folder, base_url: str):
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    generate_book(engine, accounts=12, seed=3, as_of=AS_OF)
    acts = RenewalSectionActivities(engine, folder, base_url)
    package = package_of(acts, engine, "acc-0001", AS_OF)
    return acts.store_renewal_package(StorePackageInput(workflow_id="renewal/x", package=package))


def test_the_stored_package_opens_at_its_url(tmp_path, served):
    folder, server = served
    stored = stored_package(tmp_path, folder, server.url)

    assert stored.url == f"{server.url}/acc-0001/{folder.joinpath(stored.html_path).name}"
    with urlopen(stored.url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.read().decode() == open(stored.html_path).read()


def test_nothing_outside_the_folder_is_served(tmp_path, served):
    folder, server = served
    (tmp_path / "secret.txt").write_text("not for the browser")
    (folder / "inside.txt").write_text("fine")
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")

    assert request(server.url, "/inside.txt") == (200, b"fine")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/link.txt", "/..%2fsecret.txt"):
        status, body = request(server.url, path)
        assert status in (403, 404), path
        assert b"not for the browser" not in body


def test_writes_are_refused(served):
    folder, server = served
    for method in ("PUT", "POST", "DELETE", "PATCH"):
        status, _ = request(server.url, "/new.html", method, body=b"<p>written</p>")
        assert status == 405, method
    assert not (folder / "new.html").exists()
