"""Profile triage: each indicator, hostile profiles, the CLI, and recruitment campaigns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.ingest.base import ReadError
from fimiwatch.triage.profile import triage_profile, triage_profiles
from tests.test_cli import fimiwatch

ROOT = Path(__file__).resolve().parents[1]
OFFICIALS = [{"title": "Adviser to MP", "employer": "Chamber of Deputies"},
             {"title": "Policy Officer", "employer": "Ministry of Defence"},
             {"title": "Diplomat", "employer": "Ministry of Foreign Affairs"},
             {"title": "Engineer", "employer": "Avast"}]  # fmt: skip


def profile(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "p1", "name": "Someone", "created_at": "2015-01-01",
                            "photo": {"present": True, "notes": "ordinary"}}  # fmt: skip
    return {**base, **fields}


def found(**fields: Any) -> dict[str, Any]:
    return {i.id: i for i in triage_profile(profile(**fields)).indicators}


def message(text: str, sent_at: str = "2024-05-06T09:00:00+02:00") -> list[dict[str, str]]:
    return [{"sent_at": sent_at, "direction": "in", "text": text}]


def test_an_ordinary_profile_is_low() -> None:
    verdict = triage_profile(profile(messages=message("Would you comment for our article?")))
    assert verdict.verdict == "low" and verdict.indicators == ()


def test_new_account_is_measured_against_its_first_message() -> None:
    fresh = found(created_at="2024-03-01", messages=message("Hello"))
    assert fresh["new-account"].evidence == {"created_at": "2024-03-01",
                                             "first_message": "2024-05-06"}  # fmt: skip
    assert "new-account" not in found(created_at="2020-03-01", messages=message("Hello"))
    assert "new-account" not in found(created_at="2024-03-01")  # no message: no reference


def test_hollow_company_needs_followers_without_staff_in_the_current_job() -> None:
    hollow = [{"company": "EuroAsia Policy Insight Ltd", "company_followers": 4870,
               "company_employees_on_platform": 2, "start": "2023-09", "end": None}]  # fmt: skip
    assert found(experience=hollow)["hollow-company"].evidence["followers"] == 4870
    past = [{**hollow[0], "end": "2023-12"}]
    big = [{**hollow[0], "company_employees_on_platform": 400}]
    assert "hollow-company" not in found(experience=past)
    assert "hollow-company" not in found(experience=big)


def test_official_contacts_need_half_of_a_real_sample() -> None:
    assert found(contacts_sample=OFFICIALS)["official-contacts"].evidence["share"] == 0.75
    assert "official-contacts" not in found(contacts_sample=OFFICIALS[:3])  # too few
    assert "official-contacts" not in found(contacts_sample=OFFICIALS[:1] + OFFICIALS[3:] * 3)


@pytest.mark.parametrize(
    ("text", "indicator"),
    [
        ("I was really impressed by your experience.", "flattery"),
        ("We pay EUR 1,000 for a short report on the committee.", "paid-work-offer"),
        ("A client would like a paid one-hour call.", "paid-work-offer"),
        ("Join our seminar in Shenzhen, all expenses covered.", "paid-trip"),
        ("We invite you to a forum in Dubai.", "paid-trip"),
        ("Shall we continue on WeChat?", "off-platform"),
        ("We want the views of parliamentarians on Taiwan.", "political-insight"),
    ],
)
def test_message_indicators(text: str, indicator: str) -> None:
    assert indicator in found(messages=message(text))


def test_photo_missing_or_doubted() -> None:
    assert "profile-photo" in found(photo=None)
    assert "profile-photo" in found(photo={"present": True, "notes": "stock photo"})
    assert "profile-photo" not in found()


def test_the_demo_personas_are_high_and_the_confounders_low() -> None:
    truth = json.loads((ROOT / "data" / "demo" / "truth.json").read_text())["profiles"]["files"]
    for name, expected in truth.items():
        (verdict,) = triage_profiles(ROOT / "data" / "demo" / "profiles" / name)
        assert verdict.verdict in {expected["verdict"], *expected.get("acceptable", [])}, name


def test_bad_profile_files_fail_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "no id"}')
    with pytest.raises(ReadError, match="record 1: profile without an 'id'"):
        triage_profiles(bad)
    with pytest.raises(ReadError, match="no such file"):
        triage_profiles(tmp_path / "missing.json")


@settings(max_examples=150, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_any_json_value_triages_or_fails_cleanly(value: Any) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.json"
        path.write_text(json.dumps({"id": "x", "messages": value, "experience": value}))
        try:
            (verdict,) = triage_profiles(path)
        except ReadError:
            return
        assert verdict.verdict in {"high", "medium", "low"}


def test_triage_profile_cli_and_campaign_finding(tmp_path: Path) -> None:
    demo = ROOT / "data" / "demo" / "profiles"
    result = fimiwatch("triage", "profile", str(demo / "sophie-lin.json"), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "high" and "paid-trip" in {i["id"] for i in verdict["indicators"]}
    assert fimiwatch("ingest", str(demo), cwd=tmp_path).returncode == 0
    assert fimiwatch("run", "--only", "recruitment", cwd=tmp_path).returncode == 0
    out = fimiwatch("findings", "--type", "recruitment", "--format", "jsonl", cwd=tmp_path).stdout
    findings = [json.loads(line) for line in out.splitlines()]
    campaign = next(f for f in findings if f["title"].startswith("Recruitment campaign"))
    assert sorted(campaign["item_ids"]) == ["prof-daniel-wu", "prof-grace-zhou", "prof-sophie-lin"]
    assert all("same company" in link["why"] for link in campaign["evidence"]["links"])
    flagged = {i for f in findings for i in f["item_ids"]}
    assert "prof-mark-peterson" in flagged and "prof-pavel-stary" not in flagged
