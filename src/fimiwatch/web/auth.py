"""Who is asking: a bearer token (API clients) or the same token in a cookie (the browser,
after the login page), checked against ``users``; roles rank viewer < analyst < admin.

Browsers send cookies on their own, so every form that changes something also carries a CSRF
token derived from the session's token (``csrf_token``), and the cookie is ``SameSite=Strict``
and ``HttpOnly``. Bearer requests need no CSRF token: a browser never adds that header itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, NamedTuple

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fimiwatch.store import Store
from fimiwatch.web.users import ROLES, user_for_token

COOKIE = "fimiwatch_token"
_bearer = HTTPBearer(auto_error=False, description="A token made with `fimiwatch users add`.")


class Viewer(NamedTuple):
    name: str
    role: str
    session: str
    """The secret the request authenticated with (the token, or the server's no-auth secret)."""

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def csrf_token(user: Viewer) -> str:
    return hmac.new(user.session.encode(), b"fimiwatch-csrf", hashlib.sha256).hexdigest()


def check_csrf(user: Viewer, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(submitted, csrf_token(user)):
        raise HTTPException(403, "the form is stale or did not come from this workspace")


def _token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None:
        return credentials.credentials
    return request.cookies.get(COOKIE)


# These dependencies are async, so they run on the event loop rather than in a worker thread
# each (a thread hop per dependency per request); the token lookup is from memory once a token
# has been seen (users.user_for_token), a short query otherwise.
async def optional_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Viewer | None:
    if not request.app.state.auth:
        return Viewer("anonymous", "admin", request.app.state.no_auth_secret)
    token = _token(request, credentials)
    store: Store = request.app.state.store
    found = user_for_token(store, token) if token else None
    return Viewer(found[0], found[1], token) if found and token else None


async def current_user(user: Annotated[Viewer | None, Depends(optional_user)]) -> Viewer:
    """The request's user; 401 without a valid token."""
    if user is None:
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return user


async def analyst(user: Annotated[Viewer, Depends(current_user)]) -> Viewer:
    """The request's user if they may change findings' workflow; 403 otherwise."""
    if not user.can("analyst"):
        raise HTTPException(403, f"{user.name} is a {user.role}; this needs an analyst or admin")
    return user


User = Annotated[Viewer, Depends(current_user)]
MaybeUser = Annotated[Viewer | None, Depends(optional_user)]
Analyst = Annotated[Viewer, Depends(analyst)]
