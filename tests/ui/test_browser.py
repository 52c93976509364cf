"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against
the whole platform: ``paw up`` + a worker on the run's Temporal server.

``PAWFLOW_SCREENSHOTS=DIR`` also writes the README's screenshots into DIR.
"""

from __future__ import annotations

import os
import re
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.helpers import PawUp

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():  # pragma: no cover - make install puts it there
    pytest.skip("Chromium is not installed (scripts/ensure-chromium.sh)", allow_module_level=True)

WAIT_MS = 20_000

PROGRAM = """
import os
import time

import pawflow


@pawflow.activity
def fetch_order(number):
    time.sleep(0.3)  # inside one call: long enough for a bar to show its length
    return {"order": number, "items": 3}


@pawflow.activity
def charge(order):
    time.sleep(0.5)
    return {"charged": order["items"] * 10}


def handler(event):
    print("step one: fetching the order")
    order = fetch_order(42)
    try:
        os.stat("/no/such/receipt")
    except FileNotFoundError:
        print("no receipt yet <b>not bold</b>")
    go = pawflow.subscribe("go")
    pawflow.next_event(go, timeout=300)
    print("step two: charging")
    charge(order)
    return "done"
"""

MANIFEST = """version: 1
project:
  name: {name}
  triggers:
    - name: run
      webhook: {{methods: [POST]}}
      call: program.py:handler
    - name: go
      webhook: {{methods: [POST]}}
"""


def _project(root: Path, name: str, program: str = PROGRAM) -> Path:
    root.mkdir(parents=True)
    (root / "pawflow.yaml").write_text(MANIFEST.format(name=name))
    (root / "program.py").write_text(textwrap.dedent(program))
    return root


@pytest.fixture(scope="module")
def ui_platform(
    temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    task_queue = f"test-{uuid.uuid4().hex[:12]}"
    up = PawUp(
        tmp_path_factory.mktemp("ui") / "data",
        args=["--workers", "0", "--temporal", temporal_address, "--task-queue", task_queue],
    )
    up.start()
    platform = Platform(up, temporal_address, task_queue)
    try:
        platform.start_worker()
        yield platform
    finally:
        platform.stop_workers()
        up.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def _log_in(platform: Platform, page: Any) -> None:
    result = platform.paw("ui", "--no-browser")
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    assert platform.up.token not in link
    assert re.fullmatch(re.escape(platform.url) + r"/ui/login\?code=[\w-]+", link), link
    page.goto(link)
    expect(page).to_have_url(platform.url + "/ui/sessions")
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()


# Playwright's sync API keeps an event loop running in this thread, which turns
# tests.helpers.wait_for into a coroutine: these tests wait through the browser
# (expect(...) with a timeout) instead.


def _screenshot(page: Any, name: str) -> None:
    target = os.environ.get("PAWFLOW_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / name), full_page=True)


def test_a_page_without_login_redirects_to_login_and_the_link_logs_in_once(
    ui_platform: Platform, page: Any
) -> None:
    page.goto(ui_platform.url + "/ui/status")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    expect(page.get_by_role("heading", name="Log in to the dashboard")).to_be_visible()
    result = ui_platform.paw("ui", "--no-browser")
    link = result.stdout.strip()
    page.goto(link)
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    page.goto(ui_platform.url + "/ui/status")
    expect(page.locator("#workers")).to_contain_text("alive")
    # Spent: a second browser cannot use the same link.
    other = page.context.browser.new_context()
    try:
        second = other.new_page()
        second.goto(link)
        expect(second.locator("#login-failed")).to_be_visible()
    finally:
        other.close()
    # paw up printed the address (long before this test got this far).
    assert f"  dashboard {ui_platform.url}/ui/" in ui_platform.up.stdout_path.read_text()


def test_a_session_appears_live_and_its_log_and_timeline_stream(
    ui_platform: Platform, page: Any, tmp_path: Path
) -> None:
    deployed = ui_platform.deploy(_project(tmp_path / "live", "ui-live"))
    _log_in(ui_platform, page)
    page.goto(ui_platform.url + "/ui/sessions?project=ui-live")
    expect(page.locator("#sessions tbody")).to_contain_text("No sessions")

    status, reply = ui_platform.post(deployed["webhooks"]["run"], {"n": 1})
    assert status == 202, reply
    # No reload: the list follows new sessions.
    row = page.locator("#sessions tbody tr[data-id]")
    expect(row).to_contain_text("running", timeout=WAIT_MS)
    session_id = row.get_attribute("data-id")
    (session,) = ui_platform.sessions("--event", reply["event_id"])
    assert session["id"] == session_id
    _screenshot(page, "sessions.png")

    row.get_by_role("link").click()
    expect(page).to_have_url(ui_platform.url + f"/ui/sessions/{session_id}")
    log = page.locator("#log tbody")
    expect(log).to_contain_text("step one: fetching the order", timeout=WAIT_MS)
    # Markup a session prints is text, never markup.
    expect(log).to_contain_text("no receipt yet <b>not bold</b>", timeout=WAIT_MS)
    expect(log).to_contain_text("#1 program.fetch_order(42)")
    bars = page.locator("#timeline .bar")
    expect(bars).to_have_count(3, timeout=WAIT_MS)  # fetch_order, os.stat, subscribe
    expect(page.locator("#timeline .bar.error")).to_have_count(1)
    expect(page.locator("#state")).to_have_text("running")

    # The session goes on while the page stays open: what it does next arrives live.
    status, _ = ui_platform.post(deployed["webhooks"]["go"], {})
    assert status == 202
    expect(log).to_contain_text("step two: charging", timeout=WAIT_MS)
    expect(bars).to_have_count(4, timeout=WAIT_MS)  # and charge (a wait is no call)
    expect(page.locator("#state")).to_have_text("completed", timeout=WAIT_MS)
    expect(page.locator("#timeline")).to_contain_text("charge")
    expect(page.locator("#ended")).not_to_be_empty()
    _screenshot(page, "session.png")


def test_stop_a_waiting_session_with_the_button(
    ui_platform: Platform, page: Any, tmp_path: Path
) -> None:
    deployed = ui_platform.deploy(_project(tmp_path / "stop", "ui-stop"))
    status, reply = ui_platform.post(deployed["webhooks"]["run"], {})
    assert status == 202
    _log_in(ui_platform, page)
    page.goto(ui_platform.url + "/ui/sessions?project=ui-stop")
    page.locator("#sessions tbody tr[data-id] a").click(timeout=WAIT_MS)
    expect(page.locator("#log tbody")).to_contain_text("no receipt yet", timeout=WAIT_MS)
    # By keyboard: the buttons are real buttons.
    page.get_by_role("button", name="Stop").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#state")).to_have_text("stopped", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    (session,) = ui_platform.sessions("--event", reply["event_id"])
    assert session["state"] == "stopped"


def test_redispatch_an_event_with_the_button(
    ui_platform: Platform, page: Any, tmp_path: Path
) -> None:
    deployed = ui_platform.deploy(_project(tmp_path / "again", "ui-again"))
    status, reply = ui_platform.post(
        deployed["webhooks"]["run"], {"n": 7}, headers={"Authorization": "Bearer sekrit"}
    )
    assert status == 202
    event_id = reply["event_id"]
    _log_in(ui_platform, page)
    page.goto(ui_platform.url + f"/ui/events/{event_id}")
    expect(page.locator("pre.payload")).to_contain_text('"n": 7')
    expect(page.locator("body")).not_to_contain_text("sekrit")  # credential headers masked
    page.get_by_role("button", name="Redispatch").click()
    expect(page.get_by_text("Dispatched again from")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("link", name=event_id)).to_be_visible()
    new_id = page.url.rsplit("/", 1)[1]
    assert new_id != event_id
    # The new event starts its own session, which the page shows when it comes.
    expect(page.locator("#event-sessions tr[data-id]")).to_have_count(1, timeout=WAIT_MS)
    _screenshot(page, "event.png")


def test_roll_back_a_deployment_with_the_button(
    ui_platform: Platform, page: Any, tmp_path: Path
) -> None:
    first = ui_platform.deploy(_project(tmp_path / "v1", "ui-rollback"))
    second = ui_platform.deploy(_project(tmp_path / "v2", "ui-rollback", PROGRAM + "\n# v2\n"))
    assert first["deployment_id"] != second["deployment_id"]
    _log_in(ui_platform, page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(ui_platform.url + "/ui/projects")
    old = page.locator(f'tr[data-id="{first["deployment_id"]}"]')
    expect(old.locator(".state")).to_have_text("inactive")
    old.get_by_role("button", name="Roll back to this").click()
    expect(old.locator(".state")).to_have_text("active", timeout=WAIT_MS)
    new = page.locator(f'tr[data-id="{second["deployment_id"]}"]')
    expect(new.locator(".state")).not_to_have_text("active")
    expect(new.get_by_role("button", name="Roll back to this")).to_be_visible()
    _screenshot(page, "projects.png")
    assert any(
        d["state"] == "active" and d["id"] == first["deployment_id"]
        for d in ui_platform.paw_json("deployment", "list", "--project", "ui-rollback")
    )


def test_pages_fit_a_narrow_window(ui_platform: Platform, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 400, "height": 800})
    try:
        page = context.new_page()
        _log_in(ui_platform, page)
        for path in ("/ui/sessions", "/ui/projects", "/ui/events", "/ui/status"):
            page.goto(ui_platform.url + path)
            expect(page.locator("main h1")).to_be_visible()
            # Wide tables scroll in their own box; the page itself does not.
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    finally:
        context.close()
