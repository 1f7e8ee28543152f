"""One ASGI app. Channels mount their pages and webhooks on it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from channels.web import (
    api,
    assets,
    contact_pages,
    contacts_api,
    desk_api,
    lead_pages,
    metrics,
    pages,
    portal,
    satisfaction_pages,
    team_api,
    uploads,
)
from channels.web.headers import SecurityHeaders
from channels.web.idempotency import IdempotencyMiddleware
from channels.web.limits import BodyLimit, PublicRate
from channels.web.responses import RETRY_AFTER_SECONDS, database_unavailable, error
from core.context import Context
from core.db import report_outage
from core.errors import ActionRefused, ConfigError, NotFound, SwitchboardError

log = logging.getLogger(__name__)

STATUS_FOR_KIND = {"role": 403, "state": 409, "conflict": 409, "field": 422}


# Where a request's value was wrong -> the prefix of its error code.
PLACES = {"body": "field", "query": "query", "path": "path", "header": "header"}


def _problem(e: Any) -> dict[str, str]:
    """One validation error as ``{"code", "field", "message"}``: ``field.requester.address``
    for a body field, ``query.limit`` for a query parameter; a body that is no JSON at
    all is ``body.json``."""
    place, *names = [str(p) for p in e.get("loc", ())] or ["body"]
    name = ".".join(names)
    if e.get("type") == "json_invalid":
        return {
            "code": "body.json",
            "field": "",
            "message": f"the body is not valid JSON ({e.get('ctx', {}).get('error', e['msg'])}): "
            "send a JSON object",
        }
    if not name:
        return {
            "code": "body.missing",
            "field": "",
            "message": "this endpoint needs a JSON object as its body",
        }
    what = {"query": "query parameter ", "header": "header "}.get(place, "")
    message = f"{what}{name}: {e['msg'][:1].lower()}{e['msg'][1:]}"
    if e.get("type") == "missing":
        message = f"{what}{name} is required"
    return {"code": f"{PLACES.get(place, 'field')}.{name}", "field": name, "message": message}


def create_app(ctx: Context) -> FastAPI:
    app = FastAPI(
        title="Switchboard", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    app.state.ctx = ctx
    # Innermost first: a key is claimed only for a body within its limit.
    app.add_middleware(IdempotencyMiddleware, ctx=ctx)
    app.state.body_limits = {}  # path prefix -> bytes: a channel's webhook with its own limit
    app.add_middleware(PublicRate, per_minute=ctx.public_requests_per_minute)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        BodyLimit,
        default=ctx.max_request_bytes,
        uploads=ctx.max_upload_bytes,
        limits=app.state.body_limits,
        upload_paths=uploads.PATHS,
    )

    @app.exception_handler(ActionRefused)
    async def _refused(_: Request, exc: ActionRefused) -> JSONResponse:
        return error(
            STATUS_FOR_KIND.get(exc.kind, 409), exc.rule, exc.message, overridable=exc.overridable
        )

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error(404, exc.code, str(exc))

    @app.exception_handler(ConfigError)
    async def _config(_: Request, exc: ConfigError) -> JSONResponse:
        log.error("configuration problem: %s", exc)
        return error(500, exc.code, str(exc))

    @app.exception_handler(SwitchboardError)
    async def _other(_: Request, exc: SwitchboardError) -> JSONResponse:
        return error(400, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(e) for e in exc.errors()] or [
            {"code": "invalid_request", "field": "", "message": "invalid request"}
        ]
        return error(
            422,
            problems[0]["code"],
            "; ".join(p["message"] for p in problems),
            problems=problems,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }.get(exc.status_code, "http_error")
        response = error(exc.status_code, code, str(exc.detail))
        if exc.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(DBAPIError)  # answered here, never re-raised to the server's log
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if report_outage(ctx.health, exc):  # logged once per outage, not per request
            return database_unavailable()
        return await _bug(request, exc)

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in a web request")
        return error(500, "internal_error", "something went wrong on our side; it has been logged")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Unauthenticated: states only, never an error's text (hosts, ports, queries)."""
        try:
            with ctx.db.reading() as session:
                session.execute(text("SELECT 1"))
            database = "ok"
        except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
            if not report_outage(ctx.health, exc):
                log.exception("the health check's query failed")
            database = "unreachable"
        parts = {name: part.state for name, part in ctx.health.snapshot().items()}
        status = "ok" if database == "ok" and all(s == "up" for s in parts.values()) else "degraded"
        body = {"status": status, "database": database, "parts": parts}
        response = JSONResponse(body, status_code=503 if database != "ok" else 200)
        if database != "ok":
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for router in (
        api.router,
        assets.router,
        contacts_api.router,
        team_api.router,
        desk_api.router,
    ):
        app.include_router(router, prefix="/api", dependencies=[Depends(api.known_query)])
    app.include_router(pages.router)
    app.include_router(contact_pages.router)
    app.include_router(portal.router)
    app.include_router(satisfaction_pages.router)
    app.include_router(lead_pages.router)
    app.include_router(metrics.router)
    return app
