"""Resolve names to KB actors, show an actor's profile, search the KB.

Resolution is a dictionary lookup on the normalised key (``alias_key``): the alias table is read
into memory once per open store, so ``resolve`` costs microseconds. A key listed by several
actors is ambiguous, unless exactly one of them is *named* by it (its display name, id, ATT&CK id
or the name of one of the source clusters merged into it): "APT38" resolves to APT38 although
the Lazarus umbrella also lists it.
"""

from __future__ import annotations

import difflib
import weakref
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fimiwatch.intel.kb import ensure_kb, origin_name
from fimiwatch.intel.keys import alias_key
from fimiwatch.store import Store

__all__ = [
    "ActorLookupError",
    "ActorProfile",
    "ActorRef",
    "Resolution",
    "SearchHit",
    "alias_key",
    "forget_index",
    "list_incidents",
    "resolve",
    "search",
    "show",
]

Status = Literal["resolved", "ambiguous", "unknown"]
MAX_SUGGESTIONS = 5
SUGGESTION_CUTOFF = 70.0
MAX_FUZZY_KEY = 200
"""Longer keys name no actor; fuzzy matching them would only cost time (hostile input)."""


@dataclass(frozen=True)
class ActorRef:
    actor_id: str
    name: str
    kind: str
    country: str | None
    alias: str | None = None
    """The alias that matched, when it is not the name itself."""


@dataclass(frozen=True)
class Resolution:
    query: str
    key: str
    status: Status
    actor: ActorRef | None = None
    candidates: tuple[ActorRef, ...] = ()
    """Ambiguous: every actor listing the alias. Resolved: other actors that also list it."""
    suggestions: tuple[ActorRef, ...] = ()
    """Unknown: actors with a close alias."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ActorLookupError(LookupError):
    """``show`` was given a name that is unknown or ambiguous; ``resolution`` says which."""

    def __init__(self, resolution: Resolution) -> None:
        super().__init__(f"{resolution.query!r} is {resolution.status}")
        self.resolution = resolution


@dataclass(frozen=True)
class _Index:
    by_key: dict[str, tuple[tuple[str, str], ...]]
    """key → ((actor_id, alias spelling), ...)"""
    actors: dict[str, ActorRef]
    own_keys: dict[str, frozenset[str]]
    """actor_id → keys that name it: display name, id, ATT&CK id, and the name under which
    each merged source cluster describes it."""
    keys: list[str]
    """Every alias key, for fuzzy suggestions."""

    def ref(self, actor_id: str, alias: str | None = None) -> ActorRef:
        actor = self.actors[actor_id]
        if alias is None or alias_key(alias) == alias_key(actor.name):
            return actor
        return ActorRef(actor.actor_id, actor.name, actor.kind, actor.country, alias)

    def suggest(self, key: str) -> tuple[ActorRef, ...]:
        if not key or len(key) > MAX_FUZZY_KEY:
            return ()
        refs: dict[str, ActorRef] = {}
        for close in _close_keys(key, self.keys):
            for actor_id, alias in self.by_key[close]:
                refs.setdefault(actor_id, self.ref(actor_id, alias))
        return tuple(refs.values())[:MAX_SUGGESTIONS]


_INDEXES: weakref.WeakKeyDictionary[Store, _Index] = weakref.WeakKeyDictionary()


def forget_index(store: Store) -> None:
    """Drop the cached alias index (the KB was rebuilt)."""
    _INDEXES.pop(store, None)


def _index(store: Store) -> _Index:
    index = _INDEXES.get(store)
    if index is None:
        ensure_kb(store)
        index = _load_index(store)
        _INDEXES[store] = index
    return index


def _load_index(store: Store) -> _Index:
    actors: dict[str, ActorRef] = {}
    own_keys: dict[str, frozenset[str]] = {}
    for actor_id, name, kind, country, attack_id, origins in store.con.execute(
        "SELECT actor_id, name, kind, country, attack_id, origins FROM kb_actors ORDER BY actor_id"
    ).fetchall():
        actors[actor_id] = ActorRef(actor_id, name, kind, country)
        names = [name, actor_id, attack_id, *(origin_name(o) for o in origins or ())]
        own_keys[actor_id] = frozenset(alias_key(n) for n in names if n)
    grouped: dict[str, list[tuple[str, str]]] = {}
    for key, actor_id, alias in store.con.execute(
        "SELECT key, actor_id, alias FROM kb_aliases ORDER BY key, actor_id"
    ).fetchall():
        grouped.setdefault(key, []).append((actor_id, alias))
    return _Index({k: tuple(v) for k, v in grouped.items()}, actors, own_keys, list(grouped))


def _close_keys(key: str, keys: list[str]) -> list[str]:
    """Nearest alias keys, best first: rapidfuzz when installed, difflib otherwise."""
    try:
        from rapidfuzz import fuzz, process
    except ImportError:
        return difflib.get_close_matches(key, keys, n=MAX_SUGGESTIONS * 2, cutoff=0.7)
    matches = process.extract(
        key, keys, scorer=fuzz.ratio, limit=MAX_SUGGESTIONS * 2, score_cutoff=SUGGESTION_CUTOFF
    )
    return [match[0] for match in matches]


def resolve(store: Store, name: str) -> Resolution:
    """Which actor does ``name`` mean? Resolved, ambiguous (with candidates) or unknown (with
    suggestions)."""
    index = _index(store)
    key = alias_key(name)
    hits = index.by_key.get(key, ())
    if not hits:
        return Resolution(name, key, "unknown", suggestions=index.suggest(key))
    refs = tuple(index.ref(actor_id, alias) for actor_id, alias in hits)
    if len(refs) == 1:
        return Resolution(name, key, "resolved", actor=refs[0])
    named = [r for r in refs if key in index.own_keys[r.actor_id]]
    if len(named) == 1:
        others = tuple(r for r in refs if r is not named[0])
        return Resolution(name, key, "resolved", actor=named[0], candidates=others)
    return Resolution(name, key, "ambiguous", candidates=refs)


@dataclass(frozen=True)
class ActorProfile:
    """Everything the KB holds about one actor, with names for every id."""

    actor: dict[str, Any]
    aliases: list[dict[str, Any]]
    techniques: list[dict[str, Any]]
    disarm: list[dict[str, Any]]
    parents: list[dict[str, Any]]
    """The chain of parent links, nearest first."""
    children: list[dict[str, Any]]
    incidents: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def show(store: Store, actor: str) -> ActorProfile:
    """The profile of the actor that ``actor`` (an id or any alias) resolves to."""
    resolution = resolve(store, actor)
    if resolution.actor is None:
        raise ActorLookupError(resolution)
    actor_id = resolution.actor.actor_id
    row = store.rows("SELECT * FROM kb_actors WHERE actor_id = ?", [actor_id])[0]
    aliases = store.rows(
        "SELECT a.alias, a.origin, coalesce(list_sort(list(o.actor_id) FILTER"
        " (o.actor_id IS NOT NULL)), []::VARCHAR[]) AS shared_with"
        " FROM kb_aliases a LEFT JOIN kb_aliases o"
        " ON o.key = a.key AND o.actor_id <> a.actor_id"
        " WHERE a.actor_id = ? GROUP BY a.alias, a.origin, a.key ORDER BY a.key",
        [actor_id],
    )
    return ActorProfile(
        actor=row,
        aliases=aliases,
        techniques=_techniques(store, row["techniques"]),
        disarm=_techniques(store, row["disarm"]),
        parents=_parents(store, row["parent"]),
        children=store.rows(
            "SELECT actor_id, name, kind FROM kb_actors WHERE parent = ? ORDER BY actor_id",
            [actor_id],
        ),
        incidents=_incidents(store, "WHERE list_contains(actors, ?)", [actor_id]),
    )


def _techniques(store: Store, ids: list[str] | None) -> list[dict[str, Any]]:
    if not ids:
        return []
    return store.rows(
        "SELECT technique_id, name, tactics, url FROM kb_techniques"
        " WHERE list_contains(?, technique_id) ORDER BY technique_id",
        [ids],
    )


def _parents(store: Store, parent: str | None) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = []
    while parent and all(p["actor_id"] != parent for p in chain):
        rows = store.rows(
            "SELECT actor_id, name, kind, parent FROM kb_actors WHERE actor_id = ?", [parent]
        )
        if not rows:
            break
        chain.append({k: rows[0][k] for k in ("actor_id", "name", "kind")})
        parent = rows[0]["parent"]
    return chain


def _incidents(store: Store, where: str, params: list[Any]) -> list[dict[str, Any]]:
    rows = store.rows(
        "SELECT * FROM kb_incidents " + where + " ORDER BY date_start NULLS LAST, incident_id",
        params,
    )
    for row in rows:
        for column in ("date_start", "date_end"):
            row[column] = row[column].isoformat() if row[column] else None
    return rows


def list_incidents(store: Store) -> list[dict[str, Any]]:
    """Every documented incident, oldest first."""
    _index(store)
    return _incidents(store, "", [])


@dataclass(frozen=True)
class SearchHit:
    kind: Literal["actor", "technique", "incident"]
    id: str
    title: str
    matched: str
    """Which field matched: name, alias, description, technique, title, summary…"""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def search(store: Store, text: str, limit: int = 50) -> list[SearchHit]:
    """Actors, techniques and incidents mentioning ``text``; names before descriptions."""
    needle = text.strip().casefold()
    key = alias_key(text)
    if not needle:
        return []
    _index(store)
    ranked: list[tuple[int, str, SearchHit]] = []
    for row in store.rows(
        "SELECT actor_id, name, (SELECT min(alias) FROM kb_aliases s WHERE s.actor_id ="
        " a.actor_id AND ? <> '' AND contains(s.key, ?)) AS alias, description,"
        " list_contains(techniques, upper(?)) OR list_contains(disarm, upper(?)) AS uses"
        " FROM kb_actors a ORDER BY actor_id",
        [key, key, text.strip(), text.strip()],
    ):
        matched, rank = _actor_match(row, needle, key)
        if matched:
            ranked.append((rank, "0", SearchHit("actor", row["actor_id"], row["name"], matched)))
    for row in store.rows(
        "SELECT technique_id, framework, name, description FROM kb_techniques ORDER BY technique_id"
    ):
        matched, rank = _text_match(
            needle, ("id", row["technique_id"]), ("name", row["name"]),
            ("description", row["description"]),
        )  # fmt: skip
        if matched:
            title = f"{row['name']} ({row['framework']})"
            ranked.append((rank, "1", SearchHit("technique", row["technique_id"], title, matched)))
    for row in store.rows("SELECT * FROM kb_incidents ORDER BY incident_id"):
        matched, rank = _text_match(
            needle, ("id", row["incident_id"]), ("title", row["title"]),
            ("actors", " ".join(row["actors"])), ("technique", " ".join(row["techniques"])),
            ("summary", row["summary"]), ("attributed_by", row["attributed_by"]),
        )  # fmt: skip
        if matched:
            hit = SearchHit("incident", row["incident_id"], row["title"], matched)
            ranked.append((rank, "2", hit))
    ranked.sort(key=lambda item: (item[0], item[1], item[2].id))
    return [hit for _, _, hit in ranked[:limit]]


def _actor_match(row: dict[str, Any], needle: str, key: str) -> tuple[str | None, int]:
    if key and key in (alias_key(row["name"]), alias_key(row["actor_id"])):
        return "name", 0
    if needle in row["name"].casefold():
        return "name", 1
    if row["alias"]:
        return f"alias {row['alias']}", 1
    if row["uses"]:
        return "technique", 1
    if row["description"] and needle in row["description"].casefold():
        return "description", 2
    return None, 9


def _text_match(needle: str, *fields: tuple[str, str | None]) -> tuple[str | None, int]:
    for rank, (name, value) in enumerate(fields):
        if value and needle in value.casefold():
            return name, min(rank, 2)
    return None, 9
