"""API users: a name, a role and a bearer token. Only the token's SHA-256 is stored, so a
leaked store does not leak working tokens; the token itself is shown once, when made."""

from __future__ import annotations

import hashlib
import re
import secrets
import weakref
from datetime import UTC, datetime

from fimiwatch.store import Store, data_generation

ROLES = ("viewer", "analyst", "admin")
"""viewer reads; analyst also changes findings' workflow state; admin also manages users."""
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(store: Store, name: str, role: str) -> str:
    """Create (or re-key) a user; returns the new token."""
    if not NAME.match(name):
        raise ValueError(f"user name {name!r}: 1–64 letters, digits, '_', '.', '@' or '-'")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    with store.transaction() as con:
        con.execute("DELETE FROM users WHERE name = ?", [name])
        con.execute("INSERT INTO users VALUES (?, ?, ?, ?)",
                    [name, role, _digest(token), datetime.now(UTC)])  # fmt: skip
    return token


def remove_user(store: Store, name: str) -> bool:
    with store.transaction() as con:
        removed = con.execute("DELETE FROM users WHERE name = ? RETURNING name", [name]).fetchall()
    return bool(removed)


_known: weakref.WeakKeyDictionary[Store, tuple[int, dict[str, tuple[str, str]]]] = (
    weakref.WeakKeyDictionary()
)
_KNOWN_TOKENS = 10_000


def user_for_token(store: Store, token: str) -> tuple[str, str] | None:
    """(name, role) of the token's user, or None.

    Every API request asks, so valid tokens are remembered per store until the store's data
    next changes (:func:`~fimiwatch.store.data_generation`: adding or removing a user is such a
    change), which saves a query per request; unknown tokens are always looked up."""
    digest, generation = _digest(token), data_generation()
    remembered = _known.get(store)
    if remembered is None or remembered[0] != generation:
        remembered = _known[store] = (generation, {})
    found = remembered[1].get(digest)
    if found is None:
        row = (
            store.con.cursor()
            .execute("SELECT name, role FROM users WHERE token_sha256 = ?", [digest])
            .fetchone()
        )
        found = (row[0], row[1]) if row else None
        if found is not None and len(remembered[1]) < _KNOWN_TOKENS:
            remembered[1][digest] = found
    return found
