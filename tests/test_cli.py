"""The command line end to end, in a subprocess, as a user runs it."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.conftest import post, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def fimiwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from fimiwatch.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        timeout=300,
    )


def test_help_explains_every_command(tmp_path: Path) -> None:
    result = fimiwatch("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("ingest", "run", "findings", "sources", "watchlist", "demo"):
        assert command in result.stdout
    ingest_help = fimiwatch("ingest", "--help", cwd=tmp_path).stdout
    assert "--format" in ingest_help and "--source" in ingest_help


def test_ingest_run_findings(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "posts.jsonl", [post(i) for i in range(30)])
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\nnot json\n')
    result = fimiwatch("ingest", str(data), str(tmp_path / "bad.jsonl"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "items-jsonl" in result.stderr and "30" in result.stderr
    quarantine = (tmp_path / "fimiwatch.quarantine.jsonl").read_bytes().splitlines()
    assert [orjson.loads(q)["line"] for q in quarantine] == [1, 2]
    assert (tmp_path / "fimiwatch.duckdb").exists()

    again = fimiwatch("ingest", str(data), cwd=tmp_path)
    assert again.returncode == 0
    assert "│ 30      │ 0     │ 30" in again.stderr

    run = fimiwatch("run", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "30 items" in run.stderr and "language detected for 30 items" in run.stderr

    jsonl = fimiwatch("findings", "--format", "jsonl", cwd=tmp_path)
    assert jsonl.returncode == 0 and jsonl.stdout == ""
    table = fimiwatch("findings", "--format", "csv", cwd=tmp_path)
    header = next(csv.reader(io.StringIO(table.stdout)))
    assert header[:3] == ["id", "type", "severity"]


def test_exit_codes_for_bad_input(tmp_path: Path) -> None:
    missing = fimiwatch("ingest", str(tmp_path / "nope.jsonl"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "nope.jsonl: no such file" in missing.stderr
    data = write_jsonl(tmp_path / "posts.jsonl", [post(1)])
    unknown = fimiwatch("ingest", "--format", "xml-thing", str(data), cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown format 'xml-thing'" in unknown.stderr
    bad_type = fimiwatch("findings", "--type", "gossip", cwd=tmp_path)
    assert bad_type.returncode == 2 and "gossip" in bad_type.stderr
    bad_detector = fimiwatch("run", "--only", "nothing", cwd=tmp_path)
    assert bad_detector.returncode == 2 and "unknown detector" in bad_detector.stderr
    usage = fimiwatch("ingest", cwd=tmp_path)
    assert usage.returncode == 2


def test_an_explicit_db_path_is_used(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "posts.jsonl", [post(1)])
    db = tmp_path / "elsewhere" / "mine.duckdb"
    result = fimiwatch("--db", str(db), "ingest", str(data), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert db.exists() and not (tmp_path / "fimiwatch.duckdb").exists()


def test_sources_and_watchlist_load_with_rejected_rows(tmp_path: Path) -> None:
    registry = tmp_path / "sources.csv"
    registry.write_text(
        "source,name,domain,platform,country,language,affiliation,owner_state,notes\n"
        "cgtn,CGTN,cgtn.com,web,CN,en,state_media,CN,\n"
        "weird,Weird,weird.example,web,CZ,cs,gossip,CZ,\n"
        "xinhua,Xinhua,news.cn,web,CN,en,state_media,China,\n"
    )
    result = fimiwatch("sources", "load", str(registry), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sources.csv:3:" in result.stderr and "gossip" in result.stderr
    assert "sources.csv:4:" in result.stderr and "ISO 3166" in result.stderr
    assert "1 sources loaded" in result.stderr
    listing = fimiwatch("sources", "list", cwd=tmp_path)
    assert "cgtn" in listing.stdout and "state_media" in listing.stdout

    watchlist = tmp_path / "watchlist.csv"
    watchlist.write_text(
        "kind,name,aliases,country,role,domains,notes\n"
        "person,Jana Example,J. Example;Janička,CZ,MEP candidate,,\n"
        "planet,Mars,,,,,\n"
    )
    result = fimiwatch("watchlist", "load", str(watchlist), cwd=tmp_path)
    assert result.returncode == 0
    assert "watchlist.csv:3:" in result.stderr and "1 watchlist entries loaded" in result.stderr
    quarantined = (tmp_path / "fimiwatch.quarantine.jsonl").read_text()
    assert "gossip" in quarantined and "planet" in quarantined


def test_missing_reference_file_exits_2(tmp_path: Path) -> None:
    result = fimiwatch("sources", "load", str(tmp_path / "none.csv"), cwd=tmp_path)
    assert result.returncode == 2 and "none.csv: no such file" in result.stderr
