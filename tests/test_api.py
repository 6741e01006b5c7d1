"""The REST API: tokens and roles, filters and paging, detail pages, headers, the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fimiwatch.findings import Finding
from fimiwatch.runner import save_findings
from fimiwatch.store import Store
from fimiwatch.web.app import create_app
from fimiwatch.web.users import add_user, remove_user
from tests.conftest import post
from tests.test_cli import fimiwatch
from tests.test_mentions import ingest


def finding(number: int, type: str = "phishing", **fields: object) -> Finding:
    score = (number % 10) / 10
    base: dict[str, object] = {
        "id": f"f{number:03d}", "type": type, "title": f"finding {number}",
        "summary": "about <b>something</b>", "score": score,
        "severity": "high" if score >= 0.7 else "low",
        "first_seen": datetime(2024, 5, 1 + number % 20, tzinfo=UTC),
        "last_seen": datetime(2024, 5, 2 + number % 20, tzinfo=UTC),
        "evidence": {"verdict": "malicious"},
    }  # fmt: skip
    return Finding(**{**base, **fields})  # type: ignore[arg-type]


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    ingest(store, tmp_path, [post(1, id="i1", text="Klára Menšíková je trojský kůň CIA."),
                             post(2, id="i2", text="weather today")])  # fmt: skip
    store.con.execute("INSERT INTO watchlist (kind, name) VALUES ('person', 'Klára Menšíková')")
    save_findings(store, "phishing", [finding(n) for n in range(30)])
    save_findings(store, "targeting", [finding(
        100, "targeting", targets=("Klára Menšíková",), item_ids=("i1",), source_ids=("cri-cz",),
    )])  # fmt: skip
    token = add_user(store, "ana", "viewer")
    with TestClient(create_app(store)) as test_client:
        yield test_client, token


def test_no_token_no_access(client: tuple[TestClient, str]) -> None:
    test_client, _ = client
    for path in ("/api/findings", "/api/findings/f001", "/api/items", "/api/actors",
                 "/api/sources", "/api/targets"):  # fmt: skip
        response = test_client.get(path)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    bad = test_client.get("/api/findings", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_findings_filters_paging_and_detail(client: tuple[TestClient, str]) -> None:
    test_client, token = client
    auth = {"Authorization": f"Bearer {token}"}
    page = test_client.get("/api/findings", params={"limit": 10, "offset": 5}, headers=auth).json()
    assert page["total"] == 31 and len(page["findings"]) == 10
    scores = [f["score"] for f in page["findings"]]
    assert scores == sorted(scores, reverse=True) and "evidence" not in page["findings"][0]
    high = test_client.get("/api/findings", params={"severity": "high"}, headers=auth).json()
    assert high["total"] > 0 and all(
        f["severity"] in {"high", "critical"} for f in high["findings"]
    )
    targeted = test_client.get("/api/findings", params={"target": "Klára Menšíková"},
                               headers=auth).json()  # fmt: skip
    assert [f["id"] for f in targeted["findings"]] == ["f100"]
    assert (
        test_client.get("/api/findings", params={"type": "nope"}, headers=auth).status_code == 422
    )
    searched = test_client.get("/api/findings", params={"q": "finding 7"}, headers=auth).json()
    assert {f["id"] for f in searched["findings"]} == {"f007"}
    detail = test_client.get("/api/findings/f100", headers=auth).json()
    assert detail["evidence"] == {"verdict": "malicious"} and detail["targets"] == [
        "Klára Menšíková"
    ]
    assert test_client.get("/api/findings/zzz", headers=auth).status_code == 404


def test_items_targets_sources_and_headers(client: tuple[TestClient, str]) -> None:
    test_client, token = client
    auth = {"Authorization": f"Bearer {token}"}
    found = test_client.get("/api/items", params={"q": "trojský"}, headers=auth)
    assert [i["id"] for i in found.json()["items"]] == ["i1"]
    assert found.headers["content-security-policy"].startswith("default-src 'none'")
    assert found.headers["x-content-type-options"] == "nosniff"
    assert test_client.get("/api/items/i2", headers=auth).json()["text"] == "weather today"
    (target,) = test_client.get("/api/targets", headers=auth).json()
    assert target["name"] == "Klára Menšíková" and target["finding_ids"] == ["f100"]
    assert test_client.get("/api/sources", headers=auth).status_code == 200
    assert test_client.get("/docs").status_code == 404  # its page would load a CDN's scripts
    schema = test_client.get("/openapi.json").json()
    assert {"/api/findings", "/api/findings/{finding_id}", "/api/items", "/api/actors",
            "/api/sources", "/api/targets"} <= set(schema["paths"])  # fmt: skip


def test_removed_user_token_stops_working(store: Store, client: tuple[TestClient, str]) -> None:
    test_client, token = client
    auth = {"Authorization": f"Bearer {token}"}
    assert test_client.get("/api/findings", headers=auth).status_code == 200
    assert remove_user(store, "ana")
    assert test_client.get("/api/findings", headers=auth).status_code == 401


def test_users_cli_and_no_auth_only_on_loopback(tmp_path: Path) -> None:
    made = fimiwatch("users", "add", "ana", "--role", "analyst", cwd=tmp_path)
    assert made.returncode == 0 and len(made.stdout.strip()) >= 40
    listed = fimiwatch("users", "list", cwd=tmp_path)
    assert "ana" in listed.stdout and made.stdout.strip() not in listed.stdout
    assert fimiwatch("users", "add", "bob", "--role", "root", cwd=tmp_path).returncode == 2
    refused = fimiwatch("serve", "--host", "0.0.0.0", "--no-auth", cwd=tmp_path)
    assert refused.returncode == 2 and "loopback" in refused.stderr
    assert fimiwatch("users", "remove", "nobody", cwd=tmp_path).returncode == 2


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    token = fimiwatch("users", "add", "ana", cwd=tmp_path).stdout.strip()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [sys.executable, "-c", "from fimiwatch.cli import main; main()", "serve",
         "--port", str(port)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/api/findings"
        for _ in range(100):
            try:
                denied = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert denied.status_code == 401
        allowed = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert allowed.status_code == 200 and allowed.json()["total"] == 0
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_report_command_filters_by_date(tmp_path: Path) -> None:
    with Store(tmp_path / "fimiwatch.duckdb") as store:
        save_findings(store, "phishing", [finding(1), finding(15)])  # last seen 3 and 17 May
    assert fimiwatch("report", "--out", "all.html", cwd=tmp_path).returncode == 0
    recent = fimiwatch("report", "--since", "2024-05-10", "--out", "recent.html", cwd=tmp_path)
    assert recent.returncode == 0, recent.stderr
    everything = (tmp_path / "all.html").read_text()
    latest = (tmp_path / "recent.html").read_text()
    assert "finding 1<" in everything and "finding 15<" in everything
    assert "finding 1<" not in latest and "finding 15<" in latest
    assert "about &lt;b&gt;something&lt;/b&gt;" in latest  # hostile text escaped
    assert fimiwatch("report", "--since", "soon", "--out", "x.html", cwd=tmp_path).returncode == 2
    assert fimiwatch("report", "--out", "x.txt", cwd=tmp_path).returncode == 2


def test_report_as_pdf_fetches_nothing(tmp_path: Path) -> None:
    pytest.importorskip("weasyprint", exc_type=OSError, reason="WeasyPrint needs Pango")
    from fimiwatch.report.pdf import write_pdf

    with Store(tmp_path / "fimiwatch.duckdb") as store:
        save_findings(store, "phishing", [finding(3)])
    made = fimiwatch("report", "--out", "brief.pdf", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "brief.pdf").read_bytes().startswith(b"%PDF")
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class Pixel(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()

    with ThreadingHTTPServer(("127.0.0.1", 0), Pixel) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        hostile = f'<img src="{url}/pixel.png"><link rel=stylesheet href="{url}/x.css">'
        assert write_pdf(hostile, tmp_path / "hostile.pdf").read_bytes().startswith(b"%PDF")
        server.shutdown()
    assert asked == []
