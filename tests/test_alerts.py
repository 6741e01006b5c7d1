"""Alerts: rule matching, once-only delivery, retries with backoff, the three channels, the CLI
and the hook after `fimiwatch run`."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller

from fimiwatch.alerts import (
    Rule,
    add_rule,
    dispatch,
    list_deliveries,
    list_rules,
    remove_rule,
    set_enabled,
)
from fimiwatch.alerts.dispatch import backoff_delay
from fimiwatch.alerts.mail import build_message
from fimiwatch.alerts.payload import Alert
from fimiwatch.config import AlertSettings, Settings, load_settings
from fimiwatch.findings import Finding
from fimiwatch.runner import run_pipeline, save_findings
from fimiwatch.store import Store
from tests.test_cli import fimiwatch

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def finding(id: str, type: str = "phishing", severity: str = "high", **fields: Any) -> Finding:
    base: dict[str, Any] = {
        "id": id, "type": type, "title": f"finding {id}", "summary": "why it matters",
        "score": {"low": 0.2, "medium": 0.5, "high": 0.8, "critical": 0.95}[severity],
        "severity": severity, "first_seen": datetime(2024, 5, 1, tzinfo=UTC),
        "last_seen": datetime(2024, 5, 2, tzinfo=UTC),
    }  # fmt: skip
    return Finding(**{**base, **fields})


def with_alerts(settings: Settings, **alerts: Any) -> Settings:
    return replace(settings, alerts=AlertSettings(**alerts))


def deliveries(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    rows = store.rows("SELECT * FROM alert_deliveries")
    return {(row["rule"], row["finding_id"]): row for row in rows}


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_rules_match_type_severity_target_and_actor(store: Store, tmp_path: Path) -> None:
    save_findings(store, "test", [
        finding("f1", "phishing", "high", targets=("Klára Menšíková",)),
        finding("f2", "targeting", "critical", targets=("Klára Menšíková",), actors=("apt31",)),
        finding("f3", "coordination", "low", actors=("apt31",)),
        finding("f4", "laundering", "medium"),
    ])  # fmt: skip
    out = str(tmp_path / "alerts.jsonl")
    for rule in (
        Rule("by-type", "file", out, finding_type="phishing"),
        Rule("high-up", "file", out, min_severity="high"),
        Rule("medium-up", "file", out, min_severity="medium"),
        Rule("by-target", "file", out, target="Klára Menšíková"),
        Rule("by-actor", "file", out, actor="apt31"),
        Rule("all-of", "file", out, finding_type="targeting", min_severity="critical",
             target="Klára Menšíková", actor="apt31"),
        Rule("nothing", "file", out, finding_type="phishing", actor="apt31"),
        Rule("everything", "file", out),
    ):  # fmt: skip
        add_rule(store, rule, backfill=True, now=T0)
    matched = dict(
        store.con.execute(
            "SELECT r.name, coalesce(list(d.finding_id ORDER BY d.finding_id) FILTER "
            "(WHERE d.finding_id IS NOT NULL), []) FROM alert_rules r "
            "LEFT JOIN alert_deliveries d ON d.rule = r.name GROUP BY r.name"
        ).fetchall()
    )
    assert matched == {
        "by-type": ["f1"],
        "high-up": ["f1", "f2"],
        "medium-up": ["f1", "f2", "f4"],
        "by-target": ["f1", "f2"],
        "by-actor": ["f2", "f3"],
        "all-of": ["f2"],
        "nothing": [],
        "everything": ["f1", "f2", "f3", "f4"],
    }


def test_rules_are_validated(tmp_path: Path) -> None:
    out = str(tmp_path / "a.jsonl")
    for bad, message in (
        (lambda: Rule("bad name!", "file", out), "rule name"),
        (lambda: Rule("name\n", "file", out), "rule name"),
        (lambda: Rule("r", "email", "a@example.org\n"), "not a mail address"),
        (lambda: Rule("r", "pigeon", out), "channel 'pigeon'"),
        (lambda: Rule("r", "file", out, finding_type="gossip"), "finding type 'gossip'"),
        (lambda: Rule("r", "file", out, min_severity="dire"), "severity 'dire'"),
        (lambda: Rule("r", "file", "relative.jsonl"), "absolute path"),
        (lambda: Rule("r", "webhook", "ftp://example.org/x"), "http"),
        (lambda: Rule("r", "webhook", "not a url"), "http"),
        (lambda: Rule("r", "email", "someone\r\nBcc: x@example.org"), "not a mail address"),
    ):
        with pytest.raises(ValueError, match=message):
            bad()


def test_each_alert_once_and_new_rules_skip_existing_findings(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "alerts.jsonl"
    save_findings(store, "test", [finding("old")])
    assert add_rule(store, Rule("all", "file", str(out)), now=T0) == 1  # skipped, not sent
    summary = dispatch(store, settings, T0)
    assert (summary.queued, summary.attempts, lines(out)) == (0, [], [])

    save_findings(store, "test", [finding("old"), finding("new")])  # ids stable, rows remade
    summary = dispatch(store, settings, T0 + timedelta(seconds=1))
    assert summary.queued == 1 and summary.count("delivered") == 1
    for later in range(2, 5):
        save_findings(store, "test", [finding("old"), finding("new", severity="critical")])
        again = dispatch(store, settings, T0 + timedelta(seconds=later))
        assert (again.queued, again.attempts) == (0, [])
    assert [line["finding_id"] for line in lines(out)] == ["new"]
    log = list_deliveries(store.con, 10)
    assert [(row["finding_id"], row["state"], row["attempts"]) for row in log] == [
        ("new", "delivered", 1)
    ]
    assert list_rules(store.con)[0] | {"created_at": None} == {
        "name": "all", "finding_type": None, "min_severity": None, "target": None,
        "actor": None, "channel": "file", "destination": str(out), "enabled": True,
        "created_at": None, "delivered": 1, "pending": 0, "failed": 0,
    }  # fmt: skip


def test_backfill_sends_what_matches_already(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "alerts.jsonl"
    save_findings(store, "test", [finding("a"), finding("b", severity="low")])
    assert add_rule(store, Rule("r", "file", str(out)), backfill=True, now=T0) == 2
    assert dispatch(store, settings, T0).count("delivered") == 2
    assert sorted(line["finding_id"] for line in lines(out)) == ["a", "b"]


def test_disabled_rules_send_nothing_and_resume_without_flooding(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "alerts.jsonl"
    add_rule(store, Rule("r", "file", str(out)), now=T0)
    assert set_enabled(store, "r", False)
    save_findings(store, "test", [finding("while-paused")])
    assert dispatch(store, settings, T0).attempts == []
    assert set_enabled(store, "r", True, now=T0)
    save_findings(store, "test", [finding("while-paused"), finding("after")])
    dispatch(store, settings, T0)
    assert [line["finding_id"] for line in lines(out)] == ["after"]
    assert not set_enabled(store, "nope", True)
    assert remove_rule(store, "r") and not remove_rule(store, "r")
    assert store.scalar("SELECT count(*) FROM alert_deliveries") == 0


def test_file_channel_writes_one_json_line_per_alert(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "alerts.jsonl"
    add_rule(store, Rule("r", "file", str(out)), now=T0)
    save_findings(store, "test", [finding("x/1", targets=("Klára Menšíková",),
                                          title="line one\nline two")])  # fmt: skip
    dispatch(store, with_alerts(settings, link_base="https://watch.example.org/"), T0)
    assert lines(out) == [{
        "alert_id": "r/x/1", "rule": "r", "finding_id": "x/1", "type": "phishing",
        "severity": "high", "score": 0.8, "title": "line one\nline two",
        "summary": "why it matters", "targets": ["Klára Menšíková"], "actors": [],
        "first_seen": "2024-05-01T00:00:00+00:00", "last_seen": "2024-05-02T00:00:00+00:00",
        "link": "https://watch.example.org/findings/x%2F1",
    }]  # fmt: skip


class Webhook:
    """A local receiver that answers the scripted statuses in turn, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append((dict(self.headers), orjson.loads(body)))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhook() -> Iterator[Any]:
    def start(statuses: list[int]) -> Webhook:
        hook = Webhook(statuses)
        thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
        thread.start()
        started.append(hook)
        return hook

    started: list[Webhook] = []
    yield start
    for hook in started:
        hook.server.shutdown()
        hook.server.server_close()


def test_webhook_is_retried_after_a_failure_and_delivered_once(
    store: Store, settings: Settings, webhook: Any
) -> None:
    hook = webhook([500, 302])
    add_rule(store, Rule("hook", "webhook", hook.url), now=T0)
    save_findings(store, "test", [finding("f1", actors=("apt31",))])
    settings = with_alerts(settings, backoff_seconds=30, backoff_jitter=0.5)

    first = dispatch(store, settings, T0, draw=lambda: 0.0)
    assert [(a.outcome, a.error) for a in first.attempts] == [
        ("retry", "DeliveryError: webhook answered HTTP 500")
    ]
    row = deliveries(store)[("hook", "f1")]
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] == T0 + timedelta(seconds=30)

    assert dispatch(store, settings, T0 + timedelta(seconds=29)).attempts == []  # not yet due
    second = dispatch(store, settings, T0 + timedelta(seconds=30), draw=lambda: 1.0)
    assert [a.outcome for a in second.attempts] == ["retry"]  # the redirect is not followed
    assert deliveries(store)[("hook", "f1")]["next_attempt_at"] == T0 + timedelta(seconds=120)

    third = dispatch(store, settings, T0 + timedelta(seconds=120))
    assert [a.outcome for a in third.attempts] == ["delivered"]
    assert dispatch(store, settings, T0 + timedelta(hours=5)).attempts == []
    assert len(hook.received) == 3
    headers, payload = hook.received[-1]
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == "hook/f1"
    assert payload["rule"] == "hook" and payload["finding_id"] == "f1"
    assert payload["actors"] == ["apt31"] and payload["link"] == "/findings/f1"
    assert {"type", "severity", "score", "title", "summary", "targets", "first_seen",
            "last_seen"} <= set(payload)  # fmt: skip
    row = deliveries(store)[("hook", "f1")]
    delivered_at = T0 + timedelta(seconds=120)
    assert (row["state"], row["attempts"], row["delivered_at"]) == ("delivered", 3, delivered_at)


def test_backoff_doubles_with_bounded_jitter() -> None:
    settings = AlertSettings(backoff_seconds=30, backoff_max_seconds=3600, backoff_jitter=0.2)
    waits = [backoff_delay(n, settings, 0.0).total_seconds() for n in range(1, 9)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert backoff_delay(2, settings, 0.5) == timedelta(seconds=66)
    assert backoff_delay(20, settings, 0.99) == timedelta(seconds=3600)


def test_gives_up_after_max_attempts_and_one_failure_holds_back_its_rule(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "a-directory"
    broken.mkdir()
    good = tmp_path / "good.jsonl"
    add_rule(store, Rule("broken", "file", str(broken)), now=T0)
    add_rule(store, Rule("good", "file", str(good)), now=T0)
    save_findings(store, "test", [finding("f1"), finding("f2")])
    settings = with_alerts(settings, max_attempts=4, backoff_seconds=30,
                           backoff_max_seconds=100, backoff_jitter=0.5)  # fmt: skip

    now, waits = T0, []
    for _ in range(4):
        summary = dispatch(store, settings, now, draw=lambda: 0.5)
        assert summary.count("delivered") == (2 if now == T0 else 0)  # the good rule, once
        row = deliveries(store)[("broken", "f1")]
        if row["state"] == "pending":
            assert summary.postponed == 1  # f2 waits behind f1 instead of timing out too
            assert deliveries(store)[("broken", "f2")]["next_attempt_at"] == row["next_attempt_at"]
            waits.append((row["next_attempt_at"] - now).total_seconds())
            now = row["next_attempt_at"]
    assert waits == [37.5, 75.0, 100.0]
    row = deliveries(store)[("broken", "f1")]
    assert (row["state"], row["attempts"], row["next_attempt_at"]) == ("failed", 4, None)
    assert "IsADirectoryError" in row["last_error"]
    assert [a.outcome for a in summary.attempts] == ["failed"]
    # the next in line then gets its own attempts; the good rule delivered each finding once
    later = dispatch(store, settings, now + timedelta(hours=1), draw=lambda: 0.5)
    assert [(a.finding_id, a.outcome) for a in later.attempts] == [("f2", "retry")]
    assert sorted(line["finding_id"] for line in lines(good)) == ["f1", "f2"]


def test_a_vanished_finding_is_given_up(store: Store, settings: Settings, tmp_path: Path) -> None:
    add_rule(store, Rule("r", "file", str(tmp_path / "a.jsonl")), now=T0)
    store.con.execute(  # queued by an earlier run whose finding a later run no longer makes
        "INSERT INTO alert_deliveries (rule, finding_id, state, next_attempt_at, created_at) "
        "VALUES ('r', 'gone', 'pending', ?, ?)",
        [T0, T0],
    )
    summary = dispatch(store, settings, T0)
    assert [(a.outcome, a.error) for a in summary.attempts] == [
        ("failed", "the finding no longer exists")
    ]


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_email_over_smtp_without_header_injection(
    store: Store, settings: Settings, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    settings = with_alerts(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                           smtp_from="alerts@example.org")  # fmt: skip
    add_rule(store, Rule("mail", "email", "analyst@example.org"), now=T0)
    hostile = "Urgent\r\nBcc: evil@example.net\r\nX-Injected: yes\u2028Reply-To: evil@example.net"
    save_findings(store, "test", [finding("f1", title=hostile, summary="body\r\n.\r\nMAIL FROM")])
    summary = dispatch(store, settings, T0)
    assert [a.outcome for a in summary.attempts] == ["delivered"], summary.attempts
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "alerts@example.org"
    assert envelope.rcpt_tos == ["analyst@example.org"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["Reply-To"] is None
    assert message["Subject"] == (
        "[fimiwatch] high phishing: Urgent Bcc: evil@example.net X-Injected: yes "
        "Reply-To: evil@example.net"
    )
    body = message.get_content()
    assert "Finding: /findings/f1" in body and "MAIL FROM" in body
    assert dispatch(store, settings, T0 + timedelta(hours=1)).attempts == []
    assert len(inbox.envelopes) == 1


def test_smtp_login_needs_the_password_variable(
    store: Store,
    settings: Settings,
    smtp_server: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, port = smtp_server
    monkeypatch.delenv("ALERT_PW", raising=False)
    settings = with_alerts(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                           smtp_username="watch", smtp_password_env="ALERT_PW")  # fmt: skip
    add_rule(store, Rule("mail", "email", "analyst@example.org"), now=T0)
    save_findings(store, "test", [finding("f1")])
    [attempt] = dispatch(store, settings, T0).attempts
    assert attempt.outcome == "retry" and "$ALERT_PW is empty" in (attempt.error or "")


def test_mail_subject_is_one_bounded_line() -> None:
    alert = Alert("r", "f", "phishing", "high", 0.8, "a\nb\rc\x0bd\x1ce" + "x" * 500, "s",
                  (), (), None, None, "/findings/f")  # fmt: skip
    subject = build_message(alert, "a@example.org", "b@example.org")["Subject"]
    assert subject.startswith("[fimiwatch] high phishing: a b c d e") and len(subject) == 200


def test_alert_settings_from_the_file_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "fimiwatch.toml"
    config.write_text('[alerts]\nsmtp_host = "mail.example.org"\nsmtp_port = 465\n'
                      'smtp_security = "ssl"\nmax_attempts = 3\n')  # fmt: skip
    alerts = load_settings(config).alerts
    assert (alerts.smtp_host, alerts.smtp_port) == ("mail.example.org", 465)
    assert (alerts.smtp_security, alerts.max_attempts) == ("ssl", 3)
    for text, message in (
        ('smtp_security = "tls"', "smtp_security must be one of"),
        ("max_attempts = 0", "max_attempts"),
        ('smtp_host = "mail.example.org"\nsmtp_security = "none"\nsmtp_username = "u"',
         "sent only encrypted"),
        ("backoff_max_seconds = 1", "backoff_max_seconds"),
    ):  # fmt: skip
        config.write_text(f"[alerts]\n{text}\n")
        with pytest.raises(ValueError, match=message):
            load_settings(config)


def test_a_failing_alert_never_fails_the_run(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "a-directory"
    broken.mkdir()
    add_rule(store, Rule("broken", "file", str(broken)))
    save_findings(store, "test", [finding("f1")])
    summary = run_pipeline(store, ["phishing"])
    assert summary.alerts is not None and summary.alerts.count("retry") == 1

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("store trouble")

    monkeypatch.setattr("fimiwatch.runner.dispatch", explode)
    assert run_pipeline(store, ["phishing"]).alerts is None


def test_cli_end_to_end(tmp_path: Path) -> None:
    with Store(tmp_path / "fimiwatch.duckdb") as store:
        save_findings(store, "test", [finding("f1", severity="critical"),
                                      finding("f2", "laundering", severity="low")])  # fmt: skip
    add = fimiwatch("alerts", "add", "crit", "--file", "out.jsonl", "--min-severity", "high",
                    "--backfill", cwd=tmp_path)  # fmt: skip
    assert add.returncode == 0, add.stderr
    assert "1 findings that match already: queued" in add.stderr
    send = fimiwatch("alerts", "send", cwd=tmp_path)
    assert send.returncode == 0, send.stderr
    assert "1 delivered" in send.stderr
    assert [line["finding_id"] for line in lines(tmp_path / "out.jsonl")] == ["f1"]
    listed = fimiwatch("alerts", "list", cwd=tmp_path)
    assert "crit" in listed.stdout and str(tmp_path / "out.jsonl") in listed.stdout
    log = fimiwatch("alerts", "log", "--limit", "5", cwd=tmp_path)
    assert "f1" in log.stdout and "delivered" in log.stdout

    for args, message in (  # the library's checks are tested above; here, the exit code
        (["add", "two", "--file", "x.jsonl", "--email", "a@example.org"], "exactly one of"),
        (["add", "gossip", "--file", "x.jsonl", "--type", "gossip"], "finding type 'gossip'"),
        (["remove", "nope"], "no alert rule 'nope'"),
    ):
        bad = fimiwatch("alerts", *args, cwd=tmp_path)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
