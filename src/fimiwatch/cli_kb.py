"""``fimiwatch kb``: resolve names to actors, show profiles, search the knowledge base.

Exit codes follow the CLI: 0 success (an ambiguous name too, with its candidates listed), 2 for
a name nothing resolves to (with suggestions) or bad input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fimiwatch.config import Settings
from fimiwatch.intel.actors import (
    ActorLookupError,
    ActorRef,
    Resolution,
    list_incidents,
    resolve,
    search,
    show,
)
from fimiwatch.intel.disarm import list_techniques
from fimiwatch.store import Store

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

kb_app = typer.Typer(
    help="The knowledge base: threat actors and their aliases, ATT&CK and DISARM techniques, "
    "documented incidents.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class Framework(StrEnum):
    attack = "attack"
    disarm = "disarm"


@contextmanager
def _store(ctx: typer.Context) -> Iterator[Store]:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    store = Store(settings.db, settings)
    try:
        yield store
    finally:
        store.close()


def _say(text: str, *, err: bool = False) -> None:
    """Print KB text literally: names like "[Vault 7/8]" must not be read as rich markup."""
    (console if err else out).print(text, markup=False, soft_wrap=True)


def _table(columns: list[str], rows: list[list[str]]) -> None:
    """Cells fold rather than end in "…": a truncated id cannot be copied into the next command."""
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    out.print(table)


def _print_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode())


def _label(ref: ActorRef) -> str:
    where = f", {ref.country}" if ref.country else ""
    via = f" (as {ref.alias})" if ref.alias else ""
    return f"{ref.actor_id} — {ref.name} [{ref.kind}{where}]{via}"


def _report_unresolved(resolution: Resolution, as_json: bool) -> None:
    """Ambiguous names list their candidates (exit 0); unknown names exit 2 with suggestions."""
    if as_json:
        _print_json(resolution.to_dict())
    elif resolution.status == "ambiguous":
        _say(f"{resolution.query!r} is ambiguous; it may mean:")
        for ref in resolution.candidates:
            _say(f"  {_label(ref)}")
    else:
        _say(f"error: no actor is known as {resolution.query!r}", err=True)
        for ref in resolution.suggestions:
            _say(f"  did you mean {_label(ref)}?", err=True)
    if resolution.status == "unknown":
        raise typer.Exit(2)


@kb_app.command("resolve")
def resolve_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Any name, alias or ATT&CK id (G0128).")],
    as_json: JsonOption = False,
) -> None:
    """Which actor does a name mean? Ambiguous names list their candidates."""
    with _store(ctx) as store:
        resolution = resolve(store, name)
    if resolution.status != "resolved":
        _report_unresolved(resolution, as_json)
        return
    if as_json:
        _print_json(resolution.to_dict())
        return
    assert resolution.actor is not None
    _say(_label(resolution.actor))
    for ref in resolution.candidates:
        _say(f"  also listed by {_label(ref)}")


@kb_app.command("show")
def show_command(
    ctx: typer.Context,
    actor: Annotated[str, typer.Argument(help="Actor id or any alias.")],
    as_json: JsonOption = False,
) -> None:
    """An actor's aliases, sponsor, techniques, parent and children, and incidents."""
    with _store(ctx) as store:
        try:
            profile = show(store, actor)
        except ActorLookupError as exc:
            _report_unresolved(exc.resolution, as_json)
            return
    if as_json:
        _print_json(profile.to_dict())
        return
    row = profile.actor
    _say(f"{row['name']} ({row['actor_id']}) — {row['kind']}")
    for label, value in (
        ("country", row["country"]),
        ("sponsor", row["sponsor"]),
        ("ATT&CK", row["attack_id"]),
        ("parents", " → ".join(f"{p['name']} ({p['actor_id']})" for p in profile.parents)),
        ("children", ", ".join(f"{c['name']} ({c['actor_id']})" for c in profile.children)),
    ):
        if value:
            _say(f"{label}: {value}")
    aliases = [
        a["alias"] + (f" [shared with {', '.join(a['shared_with'])}]" if a["shared_with"] else "")
        for a in profile.aliases
    ]
    _say(f"aliases: {'; '.join(aliases)}")
    if row["description"]:
        _say(row["description"])
    for title, techniques in (("ATT&CK", profile.techniques), ("DISARM", profile.disarm)):
        if techniques:
            _say(f"{title} techniques:")
            for t in techniques:
                _say(f"  {t['technique_id']} {t['name']}")
    if profile.incidents:
        _say("incidents:")
        for incident in profile.incidents:
            _say(
                f"  {incident['date_start'] or '?'} {incident['incident_id']}: "
                f"{incident['title']} ({incident['attribution']})"
            )
    if row["refs"]:
        _say("references:")
        for ref in row["refs"]:
            _say(f"  {ref}")


@kb_app.command("search")
def search_command(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Words to look for.")],
    as_json: JsonOption = False,
) -> None:
    """Search actor names, aliases and descriptions, techniques and incidents."""
    with _store(ctx) as store:
        hits = search(store, text)
    if as_json:
        _print_json([hit.to_dict() for hit in hits])
        return
    _table(["kind", "id", "title", "matched"], [[h.kind, h.id, h.title, h.matched] for h in hits])
    if not hits:
        _say("(none)", err=True)


@kb_app.command("techniques")
def techniques_command(
    ctx: typer.Context,
    framework: Annotated[
        Framework | None, typer.Option(help="Only ATT&CK or only DISARM techniques.")
    ] = None,
    search_text: Annotated[
        str | None, typer.Option("--search", help="Only techniques mentioning this text.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Browse ATT&CK and DISARM techniques (id, name, tactics)."""
    with _store(ctx) as store:
        rows = list_techniques(store, framework.value if framework else None, search_text)
    if as_json:
        _print_json(rows)
        return
    _table(
        ["id", "framework", "name", "tactics"],
        [[r["technique_id"], r["framework"], r["name"], ", ".join(r["tactics"])] for r in rows],
    )
    _say(f"{len(rows)} techniques", err=True)


@kb_app.command("incidents")
def incidents_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Documented incidents, oldest first, with their attribution as the sources state it."""
    with _store(ctx) as store:
        rows = list_incidents(store)
    if as_json:
        _print_json(rows)
        return
    _table(
        ["start", "id", "targets", "actors", "attribution", "title"],
        [
            [r["date_start"] or "", r["incident_id"], ", ".join(r["target_countries"]),
             ", ".join(r["actors"]), r["attribution"], r["title"]]
            for r in rows
        ],
    )  # fmt: skip
