"""The workspace's HTML pages: sign-in, every page and finding type, hostile text escaped,
workflow forms with CSRF and roles, triage upload, and the drawing helpers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fimiwatch.findings import Finding
from fimiwatch.runner import save_findings
from fimiwatch.store import Store
from fimiwatch.web import views
from fimiwatch.web.app import create_app
from fimiwatch.web.users import add_user
from tests.conftest import post
from tests.test_mentions import ingest

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
DAY = datetime(2024, 5, 16, tzinfo=UTC)
ORIGIN = "Evropská komise uvalí clo na elektromobily z Číny. Peking to odmítá jako protekcionismus."
COPY = "Úvodník webu. Evropská komise uvalí clo na elektromobily z Číny. Konec článku."
MAIL = b"""From: Reuters Desk <desk@reuters-news.example>
To: mp@parliament.example
Subject: Interview request
Reply-To: someone@proton.me
Message-ID: <1@x>
Date: Tue, 14 May 2024 10:00:00 +0200
Content-Type: text/plain; charset=utf-8

Please reply on WhatsApp or Signal. Urgent, within 24 hours.
"""


def _findings() -> list[tuple[str, Finding]]:
    base = {"score": 0.9, "severity": "critical", "first_seen": DAY, "last_seen": DAY}
    return [
        ("laundering", Finding(
            id="laundering-1", type="laundering", title=f"copy {HOSTILE}", summary=HOSTILE,
            item_ids=("origin", "copy"), source_ids=("cri-cz",), **base,
            evidence={"pairs": [{
                "origin_id": "origin", "copy_id": "copy", "similarity": 0.97,
                "lag_seconds": 7200, "attributed": False, "origin_lang": "cs", "copy_lang": "cs",
                "origin_source": "cri-cz", "copy_source": "ac24", "origin_coverage": 0.5,
                "copy_coverage": 0.6, "named_as": None, "credit_line": None,
                "passages": [{"origin": "Evropská komise uvalí clo na elektromobily z Číny.",
                              "copy": "Evropská komise uvalí clo na elektromobily z Číny.",
                              "similarity": 1.0, "method": "shingles"}],
            }]},
        )),
        ("coordination", Finding(
            id="coordination-1", type="coordination", title="group of 3", summary="s",
            item_ids=("t1", "t2", "t3"), account_ids=("a1", "a2", "a3"), **base,
            evidence={"network_types": ["co-post"], "window_seconds": 60, "size": 3,
                      "density": 1.0, "synchrony_seconds": 5.0, "content_uniformity": 1.0,
                      "mean_rarity": 3.0, "edges_total": 3,
                      "edges": [["a1", "a2", "co-post", 3], ["a2", "a3", "co-post", 2],
                                ["a1", "a3", "co-link", 2]]},
        )),
        ("narrative", Finding(
            id="narrative-1", type="narrative", title="EV tariffs hurt Europe", summary="s",
            item_ids=("t1",), **base,
            evidence={"narrative": "ev", "kind": "defined", "name": "EV", "claims": [HOSTILE],
                      "items_total": 3, "test": "poisson", "threshold": 0.8, "backend": "x",
                      "daily": [{"day": "2024-05-15", "items": 0, "covered": True},
                                {"day": "2024-05-16", "items": 3, "covered": True}],
                      "surges": [{"day": "2024-05-16", "items": 3, "baseline_mean": 0.1,
                                  "baseline_variance": 0.1, "p_value": 1e-6,
                                  "test": "poisson"}],
                      "breakdown": {"lang": [{"value": "cs", "items": 3}]},
                      "examples": [{"item_id": "t1", "similarity": 0.9, "published_at": None,
                                    "source": None, "lang": "cs", "text": HOSTILE}]},
        )),
        ("phishing", Finding(
            id="phishing-1", type="phishing", title="Malicious mail", summary="s",
            item_ids=("t1",), **base,
            evidence={"verdict": "malicious", "score": 0.9, "indicators": [
                {"id": "reply-to-mismatch", "description": HOSTILE, "weight": 0.3,
                 "evidence": {"reply_to": "someone@proton.me"}}]},
        )),
        ("recruitment", Finding(
            id="recruitment-1", type="recruitment", title="Persona campaign", summary="s",
            item_ids=("t2",), **base,
            evidence={"profiles": [{"id": "t2", "name": "Daniel Wu", "company": "EAPI",
                                    "verdict": "high", "score": 0.8, "indicators": []}],
                      "links": [], "companies": ["EAPI"]},
        )),
        ("targeting", Finding(
            id="targeting-1", type="targeting", title="Klára named by proxies", summary="s",
            item_ids=("t1",), targets=("Klára Menšíková",), **base,
            evidence={"target": "Klára Menšíková", "target_kind": "person",
                      "channels": {"state": 1}, "items_total": 1, "smear_items": 1,
                      "smear_terms": {"trojan horse": 1}, "sources": {"cri-cz": 1}},
        )),
    ]  # fmt: skip


@pytest.fixture
def workspace(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    ingest(store, tmp_path, [
        post(1, id="origin", text=ORIGIN, lang="cs"), post(2, id="copy", text=COPY, lang="cs"),
        post(3, id="t1", text=HOSTILE, account_id="a1", lang="cs"),
        post(4, id="t2", text="second", account_id="a2"),
        post(5, id="t3", text="third", account_id="a3"),
        post(6, id="https://example.org/a/b", text="an article with a slash in its id"),
    ])  # fmt: skip
    for detector, found in _findings():
        save_findings(store, detector, [found])
    tokens = {role: add_user(store, role, role) for role in ("viewer", "analyst")}
    with TestClient(create_app(store)) as client:
        yield client, tokens


def _signed_in(client: TestClient, token: str) -> str:
    """Sign in through the form; returns the page's CSRF token."""
    response = client.post("/login", data={"token": token, "next": "/findings"})
    assert response.status_code == 200 and "Findings" in response.text
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', response.text)
    assert match
    return match.group(1)


def test_pages_need_sign_in_and_redirect_only_locally(
    workspace: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = workspace
    first = client.get("/findings?type=phishing", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    evil = client.post("/login", data={"token": tokens["viewer"], "next": "//evil.example/"},
                       follow_redirects=False)  # fmt: skip
    assert evil.headers["location"] == "/"
    cookie = evil.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_every_page_and_finding_type_renders_escaped(
    workspace: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = workspace
    _signed_in(client, tokens["viewer"])
    pages = ["/", "/findings", "/findings?type=laundering&sort=newest", "/narratives", "/actors",
             "/sources", "/targets", "/items", "/items?q=slash", "/triage", "/exports", "/audit",
             "/items/https://example.org/a/b"]  # fmt: skip
    pages += [f"/findings/{kind}-1" for kind, _ in _findings()]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "<script>alert" not in response.text and "onerror=alert(1)>" not in response.text
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    laundering = client.get("/findings/laundering-1").text
    assert "&lt;script&gt;" in laundering
    assert "<mark>Evropská komise uvalí clo na elektromobily z Číny.</mark>" in laundering
    coordination = client.get("/findings/coordination-1").text
    assert coordination.count('class="node"') == 3 and 'data-a="a1"' in coordination
    assert client.get("/findings/narrative-1/chart.png").content[:4] == b"\x89PNG"
    assert client.get("/findings/nope").status_code == 404
    assert client.get("/findings?type=nope").status_code == 422


def test_workflow_forms_need_csrf_and_the_analyst_role(
    workspace: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = workspace
    csrf = _signed_in(client, tokens["viewer"])
    denied = client.post("/findings/phishing-1/status", data={"csrf": csrf, "status": "confirmed"})
    assert denied.status_code == 403
    csrf = _signed_in(client, tokens["analyst"])
    forged = client.post("/findings/phishing-1/status", data={"csrf": "0" * 64,
                                                              "status": "confirmed"})  # fmt: skip
    assert forged.status_code == 403
    changed = client.post("/findings/phishing-1/status",
                          data={"csrf": csrf, "status": "confirmed", "tlp": "red"})  # fmt: skip
    assert changed.status_code == 200 and "TLP:RED" in changed.text
    client.post("/findings/phishing-1/notes", data={"csrf": csrf, "text": f"checked {HOSTILE}"})
    page = client.get("/findings/phishing-1").text
    assert "checked &lt;script&gt;" in page and "status new → confirmed" in page
    confirmed = client.get("/findings?status=confirmed").text
    assert "/findings/phishing-1" in confirmed and "/findings/laundering-1" not in confirmed
    assert "phishing-1" in client.get("/audit").text


def test_triage_upload_page(workspace: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = workspace
    csrf = _signed_in(client, tokens["viewer"])
    result = client.post("/triage", data={"csrf": csrf, "kind": "email"},
                         files={"file": ("mail.eml", MAIL, "message/rfc822")})  # fmt: skip
    assert result.status_code == 200 and "reply-to-mismatch" in result.text
    empty = client.post("/triage", data={"csrf": csrf, "kind": "email"},
                        files={"file": ("empty.eml", b"", "message/rfc822")})  # fmt: skip
    assert empty.status_code == 422 and "empty.eml" in empty.text


def test_evidence_of_an_unexpected_shape_still_shows(store: Store, tmp_path: Path) -> None:
    odd = {"verdict": "malicious", "indicators": [{"id": "x", "weight": "heavy"}]}
    common = {"title": "odd", "summary": "s", "score": 0.5, "severity": "medium"}
    save_findings(store, "phishing",
                  [Finding(id="phishing-odd", type="phishing", evidence=odd, **common)])  # type: ignore[arg-type]  # fmt: skip
    save_findings(store, "laundering",
                  [Finding(id="laundering-odd", type="laundering", evidence={"pairs": 7},
                           **common)])  # type: ignore[arg-type]  # fmt: skip
    with TestClient(create_app(store, auth=False)) as client:
        phishing = client.get("/findings/phishing-odd")
        assert phishing.status_code == 200 and "heavy" in phishing.text
        laundering = client.get("/findings/laundering-odd")
        assert laundering.status_code == 200 and "shape this page draws" in laundering.text


def test_number_filters_take_what_evidence_holds() -> None:
    assert views.fixed(0.8712) == "0.87" and views.fixed(1.7e-10, "g") == "1.7e-10"
    assert views.fixed(None) == "" and views.fixed("n/a") == "n/a" and views.fixed({}) == ""
    assert views.percent(0.5) == "50" and views.hours(7200) == "2.00"


def test_highlight_escapes_and_marks_passages_across_whitespace() -> None:
    text = "A <b>bold</b> claim.\nThe same   passage here, and more."
    marked = views.highlight(text, ["The same passage here,", "tiny"])
    assert marked == ("A &lt;b&gt;bold&lt;/b&gt; claim.\n<mark>The same   passage here,</mark>"
                      " and more.")  # fmt: skip
    assert views.highlight(None, ["anything at all here"]) == ""


def test_network_layout_is_deterministic_and_bounded() -> None:
    edges = [["a", "b", "co-post", 2], ["b", "c", "co-link", 5], ["c", "a", "co-post", 1]]
    first, second = views.network_layout(edges, {}), views.network_layout(edges, {})
    assert first == second and first["views"] == ["co-link", "co-post"]
    for node in first["nodes"]:
        assert 0 <= node["x"] <= first["width"] and 0 <= node["y"] <= first["height"]
    assert views.network_layout([], {})["nodes"] == []


def test_defang() -> None:
    assert views.defang("https://evil.example/x") == "hxxps://evil[.]example/x"
