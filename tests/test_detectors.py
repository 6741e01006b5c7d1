"""The detector framework: registry, parameters, findings replaced per run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from fimiwatch import plugins
from fimiwatch.detect.base import Detector
from fimiwatch.findings import Finding, finding_id, load_findings, severity_for
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.runner import run_pipeline
from fimiwatch.store import Store
from tests.conftest import post, write_jsonl


@dataclass(frozen=True)
class RepeatParams:
    min_posts: int = 3


class PostsPerAccount(Detector):
    """A tiny real detector for the tests: accounts with at least ``min_posts`` posts."""

    name = "posts-per-account"
    finding_type = "coordination"
    description = "accounts that post at least min_posts times"
    Params = RepeatParams

    def validate(self) -> None:
        if self.params.min_posts < 1:
            raise ValueError("min_posts must be at least 1")

    def run(self, store: Store) -> list[Finding]:
        rows = store.rows(
            "SELECT account_id, list(id ORDER BY id) AS ids, min(published_at) AS first, "
            "max(published_at) AS last FROM items GROUP BY account_id "
            "HAVING count(*) >= ? ORDER BY account_id",
            [self.params.min_posts],
        )
        return [
            Finding(
                id=finding_id(self.finding_type, row["account_id"]),
                type=self.finding_type,
                title=f"{row['account_id']} posted {len(row['ids'])} times",
                summary="test finding",
                score=0.5,
                severity=severity_for(0.5),
                first_seen=row["first"],
                last_seen=row["last"],
                item_ids=tuple(row["ids"]),
                account_ids=(row["account_id"],),
                evidence={"posts": len(row["ids"])},
            )
            for row in rows
        ]


@pytest.fixture
def registered() -> object:
    plugin = SimpleNamespace(fimiwatch_detectors=plugins.hookimpl(lambda: [PostsPerAccount]))
    manager = plugins.plugin_manager()
    manager.register(plugin, name="test-detectors")
    yield plugin
    manager.unregister(name="test-detectors")


def test_parameters_are_validated_when_built() -> None:
    assert PostsPerAccount().params.min_posts == 3
    with pytest.raises(ValueError, match="unknown parameter"):
        PostsPerAccount(window=5)
    with pytest.raises(ValueError, match="at least 1"):
        PostsPerAccount(min_posts=0)


def test_finding_validation() -> None:
    good = dict(id="x", type="coordination", title="t", summary="s", score=0.5, severity="medium")
    Finding(**good)
    for bad in ({"type": "rumour"}, {"score": 1.5}, {"severity": "urgent"}, {"title": ""}):
        with pytest.raises(ValueError):
            Finding(**{**good, **bad})
    with pytest.raises(ValueError, match="first_seen"):
        Finding(
            **good,
            first_seen=datetime(2024, 2, 1, tzinfo=UTC),
            last_seen=datetime(2024, 1, 1, tzinfo=UTC),
        )
    assert [severity_for(s) for s in (0.1, 0.5, 0.8, 0.95)] == ["low", "medium", "high", "critical"]
    assert (
        finding_id("laundering", "a")
        == finding_id("laundering", "a")
        != finding_id("laundering", "b")
    )


def test_run_saves_and_replaces_findings(registered: object, store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [post(i) for i in range(21)])
    document = open_document(str(path), store.settings)
    ingest_document(store, document, choose_reader(document))
    summary = run_pipeline(store)
    assert summary.detectors["posts-per-account"][0] == 7
    first = load_findings(store)
    assert len(first) == 7
    assert first[0]["type"] == "coordination" and first[0]["evidence"] == {"posts": 3}
    assert first[0]["first_seen"] <= first[0]["last_seen"]
    run_pipeline(store, ["posts-per-account"])
    assert load_findings(store) == first
    assert store.scalar("SELECT count(*) FROM findings") == 7
