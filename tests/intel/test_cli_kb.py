"""``fimiwatch kb``: the sub-app driven directly, as the main CLI will mount it."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from fimiwatch.cli_kb import kb_app
from fimiwatch.config import Settings
from tests.intel.kbstore import built_kb


def kb(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(kb_app, list(args), obj=Settings(db=built_kb()))
    return result.exit_code, result.output


def test_resolve() -> None:
    code, output = kb("resolve", "judgment panda")
    assert code == 0 and output.startswith("apt31 — APT31 [threat-actor, CN]")
    code, output = kb("resolve", "Violet-Typhoon", "--json")
    assert code == 0 and orjson.loads(output)["actor"]["actor_id"] == "apt31"


def test_resolve_ambiguous_exits_0_with_candidates() -> None:
    code, output = kb("resolve", "grizzly steppe")
    assert code == 0 and "ambiguous" in output and "apt28" in output and "apt29" in output
    code, output = kb("resolve", "grizzly steppe", "--json")
    document = orjson.loads(output)
    assert code == 0 and document["status"] == "ambiguous" and len(document["candidates"]) == 2


def test_resolve_unknown_exits_2_with_suggestions() -> None:
    code, output = kb("resolve", "zirconum")
    assert code == 2 and "did you mean apt31" in output
    code, output = kb("resolve", "zirconum", "--json")
    assert code == 2 and orjson.loads(output)["suggestions"][0]["actor_id"] == "apt31"


def test_show() -> None:
    code, output = kb("show", "APT40")
    assert code == 0
    assert "Hainan State Security Department (hainan-ssd) → Ministry of State Security" in output
    code, output = kb("show", "dragonbridge", "--json")
    assert code == 0 and orjson.loads(output)["actor"]["kind"] == "influence-operation"
    assert kb("show", "no such actor")[0] == 2


def test_search_techniques_incidents() -> None:
    code, output = kb("search", "paperwall", "--json")
    assert code == 0 and orjson.loads(output)[0]["id"] == "paperwall"
    code, output = kb("techniques", "--framework", "disarm", "--search", "persona", "--json")
    rows = orjson.loads(output)
    assert code == 0 and rows and {r["framework"] for r in rows} == {"disarm"}
    assert "T0097" in {r["technique_id"] for r in rows}
    assert kb("techniques", "--framework", "nonsense")[0] == 2
    code, output = kb("incidents", "--json")
    assert code == 0 and len(orjson.loads(output)) >= 12
    code, output = kb("incidents")
    assert code == 0 and "2016-06-07" in output
