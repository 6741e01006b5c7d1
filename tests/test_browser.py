"""The workspace in a real browser: Debian's Chromium, driven by Playwright, over a copy of the
demo store, signed in through the login page as an analyst.

Every page must load without a console error, an uncaught exception or a Content-Security-Policy
violation, must not reach anything but 127.0.0.1, and must not overflow the window sideways.
A screenshot of every page visited goes to ``$FIMIWATCH_SCREENSHOTS`` (default
``build/screenshots/``).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    Request,
    Response,
    Route,
    expect,
    sync_playwright,
)

from fimiwatch.findings import FINDING_TYPES
from fimiwatch.store import Store
from fimiwatch.web.app import create_app
from fimiwatch.web.users import add_user
from tests.conftest import DemoRun

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]
MAIL = ROOT / "data" / "demo" / "mail"
SCREENSHOTS = Path(os.environ.get("FIMIWATCH_SCREENSHOTS") or ROOT / "build" / "screenshots")
SCREENSHOT_HEIGHT = 6000
"""Longer pages (the actor list runs to 45,000 px) are shot down to this many pixels."""
ANALYST = "browser-analyst"
CSP_LISTENER = """document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));"""

NO_CHROMIUM = (
    f"{CHROMIUM} is missing: these tests drive Debian's chromium "
    "(apt-get install chromium; `make test` installs it when run as root)"
)

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=NO_CHROMIUM),
    pytest.mark.timeout(600),  # the first test waits for the shared demo store (2–3 minutes)
]


@dataclass
class Workspace:
    url: str
    token: str
    by_type: dict[str, int]


@pytest.fixture(scope="module")
def workspace(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """``create_app`` with auth on, served by uvicorn on 127.0.0.1 in a thread, over a copy of
    the demo store (the tests change findings' status)."""
    assert demo_run.result.returncode == 0, demo_run.result.stderr
    db = tmp_path_factory.mktemp("browser") / "demo.duckdb"
    shutil.copyfile(demo_run.db, db)
    if Path(f"{demo_run.db}.wal").exists():
        shutil.copyfile(f"{demo_run.db}.wal", f"{db}.wal")
    with Store(db) as store:
        token = add_user(store, ANALYST, "analyst")
        by_type = dict(
            store.con.execute("SELECT type, count(*) FROM findings GROUP BY ALL").fetchall()
        )
        config = uvicorn.Config(create_app(store, auth=True), host="127.0.0.1", port=0,
                                log_level="warning")  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="workspace", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the workspace did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield Workspace(f"http://127.0.0.1:{port}", token, by_type)
        finally:
            server.should_exit = True
            thread.join(timeout=20)


@dataclass
class Browsing:
    """One signed-in tab, and what its pages did wrong."""

    url: str
    page: Page
    problems: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def on_page_error(self, error: Error) -> None:
        self.problems.append(f"uncaught exception on {self.page.url}: {error}")

    def on_request(self, route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname != "127.0.0.1":
            self.problems.append(f"request beyond 127.0.0.1 from {self.page.url}: {request.url}")
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def check(self, name: str) -> None:
        """The page as it is now: shot, whole, without problems so far."""
        self.shot(name)
        body = self.page.locator("body").inner_text()
        assert "built-in method" not in body, f"{name}: a template printed a Python method"
        assert self.page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), f"{name}: the page is wider than the window"
        assert not self.problems, self.problems

    def visit(self, path: str, name: str) -> Response:
        response = self.page.goto(self.url + path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        self.check(name)
        return response

    def shot(self, name: str) -> None:
        height = self.page.evaluate("document.documentElement.scrollHeight")
        width = self.page.viewport_size["width"] if self.page.viewport_size else 1280
        self.page.screenshot(
            path=SCREENSHOTS / f"{name}.png", full_page=True,
            clip={"x": 0, "y": 0, "width": width, "height": min(height, SCREENSHOT_HEIGHT)},
        )  # fmt: skip

    def follow(self, action: Callable[[], Any], url: str | re.Pattern[str] | None = None) -> None:
        """Run ``action`` (a click, a select) and wait for the page it leads to."""
        with self.page.expect_navigation(url=url or re.compile(".*")):
            action()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def signed_in(browser: Browser, workspace: Workspace) -> Iterator[Browsing]:
    """A tab signed in through the login page with an analyst's token."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    browsing = Browsing(workspace.url, page)
    context.route("**/*", browsing.on_request)
    page.on("console", browsing.on_console)
    page.on("pageerror", browsing.on_page_error)
    page.goto(workspace.url + "/findings?type=phishing")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ffindings%3Ftype%3Dphishing$"))
    browsing.check("login")
    page.fill("input[name=token]", workspace.token)
    browsing.follow(lambda: page.click("form[action='/login'] button[type=submit]"))
    expect(page).to_have_url(workspace.url + "/findings?type=phishing")  # back where it was
    expect(page.locator("header .who")).to_contain_text(ANALYST)
    expect(page.locator("header .who .role")).to_have_text("analyst")
    yield browsing
    context.close()


@pytest.fixture
def tab(signed_in: Browsing) -> Iterator[Browsing]:
    yield signed_in
    problems, signed_in.problems = signed_in.problems, []
    assert not problems, problems


def rows(page: Page) -> Locator:
    """The rows of a findings table."""
    return page.locator("table.findings tbody tr[data-finding]")


def test_overview_counts(tab: Browsing, workspace: Workspace) -> None:
    page = tab.page
    tab.visit("/", "overview")
    cards = {
        page.locator(".cards .card").nth(i).locator("div:not(.n)").inner_text(): int(
            page.locator(".cards .card .n").nth(i).inner_text()
        )
        for i in range(page.locator(".cards .card").count())
    }
    total = sum(workspace.by_type.values())
    assert cards["findings"] == total and cards["items"] > 1000 and cards["watchlist"] > 0
    by_status = {k: n for k, n in cards.items() if k in ("new", "confirmed", "dismissed")}
    assert by_status and sum(by_status.values()) == total
    for finding_type in FINDING_TYPES:
        chip = page.locator(f"ul.chips a[href='/findings?type={finding_type}']")
        expect(chip).to_have_text(f"{finding_type} {workspace.by_type[finding_type]}")
    assert page.locator("figure.activity rect.bar").count() > 0
    assert rows(page).count() == 10  # the newest findings


def test_filter_findings(tab: Browsing, workspace: Workspace) -> None:
    page = tab.page
    tab.visit("/findings", "findings")
    total = sum(workspace.by_type.values())
    expect(page.locator("h1 .count")).to_have_text(str(total))
    assert rows(page).count() == min(total, 50)
    # a select applies the filter by itself (app.js submits the form)
    tab.follow(lambda: page.select_option("#filters select[name=type]", "phishing"),
               re.compile(r"type=phishing"))  # fmt: skip
    phishing = workspace.by_type["phishing"]
    expect(page.locator("h1 .count")).to_have_text(str(phishing))
    assert rows(page).count() == phishing < total
    assert set(rows(page).locator(".type").all_inner_texts()) == {"phishing"}
    tab.check("findings-phishing")
    page.fill("#filters input[name=q]", "Malicious")
    tab.follow(lambda: page.press("#filters input[name=q]", "Enter"), re.compile(r"q=Malicious"))
    malicious = rows(page).count()
    assert 0 < malicious < phishing
    assert set(rows(page).locator(".type").all_inner_texts()) == {"phishing"}
    for text in rows(page).all_inner_texts():
        assert "malicious" in text.lower()
    expect(page.locator("#filters select[name=type]")).to_have_value("phishing")
    tab.check("findings-phishing-malicious")
    # text alone, across types
    tab.follow(lambda: page.select_option("#filters select[name=type]", ""))
    assert set(rows(page).locator(".type").all_inner_texts()) >= {"phishing"}
    assert rows(page).count() >= malicious


def open_top(tab: Browsing, finding_type: str) -> str:
    """Open the highest-scoring finding of a type from the list; its id."""
    page = tab.page
    tab.visit(f"/findings?type={finding_type}&sort=score", f"findings-{finding_type}")
    top = rows(page).first
    finding_id = top.get_attribute("data-finding")
    title = top.locator("td a").first.inner_text()
    tab.follow(lambda: top.locator("td a").first.click(), re.compile(f"/findings/{finding_id}$"))
    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator(f"article.finding-{finding_type}")).to_be_visible()
    assert finding_id
    return finding_id


def laundering(page: Page) -> None:
    pair = page.locator("#evidence .pair").first
    for column in ("origin", "copy"):
        expect(pair.locator(f".side-by-side .col.{column} .text")).not_to_be_empty()
        assert pair.locator(f".side-by-side .col.{column} .text mark").count() >= 1, column
    passage = pair.locator("table.passages tbody tr").first.locator("td")
    assert passage.nth(0).inner_text().strip() and passage.nth(1).inner_text().strip()


def coordination(page: Page) -> None:
    network = page.locator("svg#network")
    nodes, edges = network.locator("circle.node"), network.locator("line.edge")
    assert nodes.count() >= 3 and edges.count() >= 2
    dimmed = network.locator(".dim")
    expect(dimmed).to_have_count(0)
    # the least linked account: its links are not all of the group's
    radii = nodes.evaluate_all("nodes => nodes.map((n) => Number(n.getAttribute('r')))")
    node = nodes.nth(radii.index(min(radii)))
    account = node.get_attribute("data-account")
    node.click()
    expect(node).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#network-selection")).to_have_text(
        re.compile(rf"^{re.escape(account or '')}: linked to [1-9]\d* accounts$")
    )
    assert network.locator("line.edge.dim").count() > 0
    assert network.locator("line.edge:not(.dim)").count() > 0
    page.locator("figure.network").screenshot(path=SCREENSHOTS / "finding-coordination-click.png")
    network.click(position={"x": 3, "y": 3})  # the background shows every link again
    expect(dimmed).to_have_count(0)
    expect(page.locator("#network-selection")).to_have_text("")
    assert page.locator("figure.timeline circle.dot").count() > 0


def narrative(page: Page) -> None:
    chart = page.locator("#evidence figure.chart img")
    expect(chart).to_be_visible()
    page.wait_for_function("document.querySelector('#evidence figure.chart img').complete")
    assert chart.evaluate("img => img.naturalWidth") > 0
    surges = page.locator("#evidence h3:text-is('Surges') + table tbody tr")
    for surge in surges.all():
        assert re.fullmatch(r"\d+", surge.locator("td").nth(1).inner_text())


def phishing(page: Page) -> None:
    expect(page.locator("#evidence .verdict")).to_contain_text(re.compile("malicious|suspicious"))
    indicators = page.locator("#evidence table.indicators tbody tr")
    assert indicators.count() >= 1
    expect(indicators.first.locator("strong")).not_to_be_empty()
    expect(page.locator("#evidence h3", has_text="The message (safe view)")).to_be_visible()
    headers = page.locator("#evidence table.headers")
    for header in ("Subject", "From", "To", "Date"):
        expect(headers.locator(f"tr:has(th:text-is('{header}')) td").first).not_to_be_empty()
    for link in page.locator("#evidence ul.links code").all_inner_texts():
        assert not link.lower().startswith("http"), f"{link}: not defanged"


def recruitment(page: Page) -> None:
    profile = page.locator("#evidence .profile").first
    expect(profile.locator("h3 .verdict")).to_be_visible()
    assert profile.locator("table.indicators tbody tr td strong").count() >= 1


def targeting(page: Page) -> None:
    channels = page.locator("#evidence dt:text-is('Channels') + dd")
    expect(channels).to_have_text(re.compile(r"^\w+ \d+"))


EVIDENCE = {f.__name__: f for f in (laundering, coordination, narrative, phishing, recruitment,
                                    targeting)}  # fmt: skip


@pytest.mark.parametrize("finding_type", FINDING_TYPES)
def test_finding_evidence(tab: Browsing, finding_type: str) -> None:
    open_top(tab, finding_type)
    tab.check(f"finding-{finding_type}")
    EVIDENCE[finding_type](tab.page)
    assert not tab.problems, tab.problems


def test_confirm_a_finding_and_see_it_audited(tab: Browsing) -> None:
    page = tab.page
    finding_id = open_top(tab, "targeting")
    form = page.locator("#workflow form[action$='/status']")
    form.locator("select[name=status]").select_option("confirmed")
    tab.follow(lambda: form.locator("button[type=submit]").click(),
               re.compile(f"/findings/{finding_id}$"))  # fmt: skip
    expect(page.locator("p.meta .status")).to_have_text("confirmed")
    expect(page.locator("#workflow table.audit tbody tr").first).to_contain_text("new → confirmed")
    tab.check("finding-confirmed")
    tab.visit("/audit", "audit")
    entry = page.locator(
        "table.audit tbody tr", has=page.locator(f"a[href='/findings/{finding_id}']")
    )
    expect(entry).to_have_count(1)
    expect(entry.locator("td").nth(1)).to_have_text(ANALYST)
    expect(entry.locator("td").nth(2)).to_have_text("status")
    expect(entry.locator("td").nth(4)).to_contain_text('"confirmed"')
    tab.visit("/findings?status=confirmed", "findings-confirmed")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_have_attribute("data-finding", finding_id)


def test_triage_an_uploaded_mail(tab: Browsing) -> None:
    page = tab.page
    mail = MAIL / "03-lookalike-domain-verify-account.eml"
    tab.visit("/triage", "triage")
    expect(page.locator("input[name=kind][value=email]")).to_be_checked()
    page.set_input_files("form.upload input[name=file]", mail)
    tab.follow(lambda: page.click("form.upload button[type=submit]"))
    expect(page.locator("main h2")).to_have_text(mail.name)
    verdict = page.locator(".verdict-block h3 .verdict").first
    expect(verdict).to_have_text("malicious")
    assert page.locator(".verdict-block table.indicators tbody tr td strong").count() >= 3
    tab.check("triage-verdict")


@pytest.mark.parametrize(
    ("path", "present"),
    [
        pytest.param("/narratives", "table tbody tr td code", id="narratives"),
        pytest.param("/actors?q=APT31", "table tbody tr td a[href^='/actors/']", id="actors"),
        pytest.param("/sources", "table tbody tr td code", id="sources"),
        pytest.param("/targets", "table tbody tr td a[href^='/findings?target=']", id="targets"),
        pytest.param("/items?q=Men%C5%A1%C3%ADkov%C3%A1", "table.items tbody tr td a", id="items"),
        pytest.param("/exports", "form[action='/api/export/stix'] select[name=tlp]", id="exports"),
    ],
)
def test_other_pages(
    tab: Browsing, request: pytest.FixtureRequest, path: str, present: str
) -> None:
    name = request.node.callspec.id
    tab.visit(path, name)
    expect(tab.page.locator("h1")).to_be_visible()
    assert tab.page.locator(present).count() >= 1, present
    if name in ("actors", "items"):  # and the page of one entry of the list
        tab.follow(lambda: tab.page.locator(present).first.click())
        expect(tab.page.locator("h1")).not_to_be_empty()
        tab.check(name.removesuffix("s"))
