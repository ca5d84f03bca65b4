"""Routes that serve without FastAPI's per-request machinery, and still describe themselves in
the OpenAPI document: each route is declared once, with its documentation beside it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Scope

Endpoint = Callable[[Request], Any]


class ServedRoute(Route):
    """A plain Starlette route that carries its OpenAPI description.

    FastAPI's per-request parameter solving was the largest share of a hit's CPU
    (bench/PROFILE.md); a plain route does one regex match instead. ``doc`` takes the keyword
    arguments of ``APIRoute`` (summary, responses, ...), used only to build the document.

    It also puts itself in the scope as FastAPI's routes do: the request metrics label by
    ``scope["route"].path``, the template, never the raw path.
    """

    def __init__(self, path: str, endpoint: Endpoint, *, method: str, **doc: Any) -> None:
        super().__init__(path, endpoint, methods=[method], include_in_schema=False)
        self.method = method
        self.doc = doc

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child = {**child, "route": self}
        return match, child

    def documented(self) -> APIRoute:
        """The FastAPI route this one would be: what the OpenAPI generator reads."""
        return APIRoute(self.path, self.endpoint, methods=[self.method], **self.doc)


def install_openapi(
    app: FastAPI, secure: Callable[[dict[str, Any]], None] = lambda document: None
) -> None:
    """``app.openapi()`` from the app's routes, each ``ServedRoute`` by its description;
    ``secure`` adds what authentication the app requires."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=[
                    route.documented() if isinstance(route, ServedRoute) else route
                    for route in app.routes
                ],
            )
            secure(app.openapi_schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
