"""Who may call each route: read from the route's access dependency, or listed here as public.

Every access dependency in `deps.py` carries an `access` attribute, so a route declares its access
level by the caller type in its signature (`caller: UploadCaller`, `user: CurrentUser`, …). The
handful of routes anyone may call are listed in `PUBLIC`. A route with neither is a mistake that
`tests/gateway/test_access.py` catches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - older FastAPI
    iter_route_contexts = None  # type: ignore[assignment]


F = TypeVar("F", bound=Callable[..., Any])


class Access(StrEnum):
    PUBLIC = "public"
    ANY_KEY = "any-key"  # any live API key, or a browser session
    UPLOAD = "upload"  # an API key with the scope, or a session whose role grants it
    SYNC = "sync"
    ADMIN = "admin"
    ACCOUNT = "account"  # the caller's own account: any browser session, or an `admin`-scoped key
    SESSION = "session"  # an HTML page for a signed-in browser
    ADMIN_SESSION = "admin-session"  # an HTML page for a signed-in admin


# (method, path) pairs anyone may call.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/login"), ("POST", "/login"),
        # The API's documentation pages (apidocs.py).
        ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/docs/assets/redoc.js"),
    }
)  # fmt: skip
# Framework routes (API docs) and mounts (static files), all public.
PUBLIC_FRAMEWORK_PATHS = frozenset({"/openapi.json", "/docs/assets", "/gateway/static"})


def declares(access: Access) -> Callable[[F], F]:
    """Mark an access dependency with the level it enforces."""

    def mark(dependency: F) -> F:
        dependency.access = access  # type: ignore[attr-defined]
        return dependency

    return mark


@dataclass(frozen=True)
class Endpoint:
    """One method of one route as the app serves it (with router prefixes applied)."""

    method: str
    path: str
    route: BaseRoute
    in_schema: bool
    access: Access | None  # None: declares no level, or several


def endpoints(app: Starlette) -> list[Endpoint]:
    """Every method of every route the app serves, with the access level it declares."""
    found = []
    for path, route, in_schema, methods in _routes(app):
        for method in sorted(m for m in (methods or {"GET"}) if m != "HEAD"):
            found.append(Endpoint(method, path, route, in_schema, _access_of(route, method, path)))
    return found


def _routes(app: Starlette) -> Iterator[tuple[str, BaseRoute, bool, set[str] | None]]:
    if iter_route_contexts is None:  # FastAPI before 0.165 copies included routes into app.routes
        for route in app.routes:
            path = getattr(route, "path_format", getattr(route, "path", ""))
            yield path, route, getattr(route, "include_in_schema", False), getattr(route, "methods", None)
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = route.path if isinstance(route, Mount) else context.path_format or context.path or ""
        yield path, route, bool(getattr(context, "include_in_schema", False)), context.methods


def _access_of(route: BaseRoute, method: str, path: str) -> Access | None:
    if isinstance(route, APIRoute):
        if (method, path) in PUBLIC:
            return Access.PUBLIC
        found = _declared(route.dependant)
        return found.pop() if len(found) == 1 else None
    if isinstance(route, Route | Mount) and path in PUBLIC_FRAMEWORK_PATHS:
        return Access.PUBLIC
    return None


def _declared(dependant: Dependant) -> set[Access]:
    found: set[Access] = set()
    for dep in dependant.dependencies:
        access = getattr(dep.call, "access", None)
        if access is not None:
            found.add(Access(access))
        else:
            found |= _declared(dep)
    return found
