"""Analysts' workflow on findings: a status (new, confirmed, dismissed), a TLP of their own, and
notes, each change written to the audit log in the same transaction.

Workflow lives beside the findings, keyed by finding id, because detectors replace their
findings on every run; finding ids are stable, so a confirmed finding stays confirmed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from fimiwatch.intel.stix_export import TLP_LEVELS, parse_tlp
from fimiwatch.store import data_changed
from fimiwatch.web.queries import STATUSES, rows

NOTE_CHARS = 10_000


class WorkflowError(ValueError):
    """A change that cannot be made: unknown finding, status or TLP, empty or long note."""


def _audit(
    con: duckdb.DuckDBPyConnection, user: str, action: str, finding_id: str | None,
    detail: dict[str, Any],
) -> None:  # fmt: skip
    con.execute(
        "INSERT INTO audit_log (occurred_at, user_name, action, finding_id, detail) "
        "VALUES (?, ?, ?, ?, ?)",
        [datetime.now(UTC), user, action, finding_id, orjson.dumps(detail).decode()],
    )


def _require_finding(con: duckdb.DuckDBPyConnection, finding_id: str) -> None:
    if not con.execute("SELECT 1 FROM findings WHERE id = ?", [finding_id]).fetchone():
        raise WorkflowError(f"no finding {finding_id!r}")


def set_status(
    con: duckdb.DuckDBPyConnection,
    finding_id: str,
    user: str,
    status: str | None = None,
    tlp: str | None = None,
) -> dict[str, Any]:
    """Change a finding's status and/or TLP; returns the new state."""
    if status is not None and status not in STATUSES:
        raise WorkflowError(f"status must be one of {', '.join(STATUSES)}")
    level = parse_tlp(tlp) if tlp is not None else None
    if tlp is not None and level is None:
        raise WorkflowError(f"tlp must be one of {', '.join(TLP_LEVELS)}")
    con.execute("BEGIN TRANSACTION")
    try:
        _require_finding(con, finding_id)
        before = con.execute(
            "SELECT status, tlp FROM finding_status WHERE finding_id = ?", [finding_id]
        ).fetchone()
        old_status, old_tlp = before if before else ("new", None)
        new = {"status": status or old_status, "tlp": level if tlp is not None else old_tlp}
        con.execute(
            "INSERT OR REPLACE INTO finding_status VALUES (?, ?, ?, ?, ?)",
            [finding_id, new["status"], new["tlp"], user, datetime.now(UTC)],
        )
        _audit(con, user, "status", finding_id,
               {"from": {"status": old_status, "tlp": old_tlp}, "to": new})  # fmt: skip
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    data_changed()
    return {"finding_id": finding_id, **new, "updated_by": user}


def add_note(
    con: duckdb.DuckDBPyConnection, finding_id: str, user: str, text: str
) -> dict[str, Any]:
    text = text.strip()
    if not text:
        raise WorkflowError("a note needs some text")
    if len(text) > NOTE_CHARS:
        raise WorkflowError(f"a note holds at most {NOTE_CHARS} characters")
    con.execute("BEGIN TRANSACTION")
    try:
        _require_finding(con, finding_id)
        note = rows(
            con,
            "INSERT INTO finding_notes (finding_id, author, text, created_at) "
            "VALUES (?, ?, ?, ?) RETURNING note_id, finding_id, author, text, created_at",
            [finding_id, user, text, datetime.now(UTC)],
        )[0]
        _audit(con, user, "note", finding_id, {"note_id": note["note_id"]})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    data_changed()
    return note


def audit_log(
    con: duckdb.DuckDBPyConnection, finding_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Newest first; optionally for one finding."""
    entries = rows(
        con,
        "SELECT audit_id, occurred_at AS at, user_name AS user, action, finding_id, detail "
        "FROM audit_log WHERE ? IS NULL OR finding_id = ? ORDER BY audit_id DESC LIMIT ?",
        [finding_id, finding_id, limit],
    )
    for entry in entries:
        entry["detail"] = orjson.loads(entry["detail"]) if entry["detail"] else {}
    return entries
