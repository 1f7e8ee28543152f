"""The web app's error answers, shared by its handlers and its middleware."""

from __future__ import annotations

from starlette.responses import JSONResponse

RETRY_AFTER_SECONDS = 5  # what a caller is told to wait while a dependency is down


def error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    """``{"error": {"code", "message", ...}}`` with ``status``."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def database_unavailable() -> JSONResponse:
    """503 ``unavailable.database`` with Retry-After: nothing was changed."""
    response = error(
        503,
        "unavailable.database",
        "the database cannot be reached just now; nothing was changed, try again shortly",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
