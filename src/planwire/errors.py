"""API errors and the handlers that turn every failure into a clear 4xx JSON body.

Every error body has ``detail`` (one human sentence naming the problem). Validation errors add
``errors``: one entry per bad field with its dotted ``field`` path and ``message``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """An expected failure with its HTTP status and a message for the client."""

    status_code = 400

    def __init__(self, detail: str, *, status_code: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra


class NotFound(ApiError):
    status_code = 404


class Forbidden(ApiError):
    status_code = 403


class Unauthorized(ApiError):
    status_code = 401


class Conflict(ApiError):
    status_code = 409


class Unprocessable(ApiError):
    status_code = 422


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_payload(errors: list[Any]) -> tuple[int, dict[str, Any]]:
    if any(err.get("type") == "json_invalid" for err in errors):
        return 400, {"detail": "Malformed JSON body: the request body is not valid JSON."}
    items = [{"field": field_path(err["loc"]), "message": err["msg"]} for err in errors]
    first = items[0]
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return 422, {"detail": f"{first['field']}: {first['message']}{more}", "errors": items}


#: What a 422 body is, in the OpenAPI document (FastAPI would document its own default shape,
#: ``detail`` as a list, which this API never sends).
ERROR_ITEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "Dotted path of the bad field."},
        "message": {"type": "string"},
    },
}
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "One sentence naming the problem."},
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ValidationError"},
            "description": "One entry per bad field.",
        },
    },
}


def _document_error_bodies(app: FastAPI) -> None:
    """Make the OpenAPI document describe the 422 body the handlers below send."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in components:
            components["HTTPValidationError"] = ERROR_BODY_SCHEMA
            components["ValidationError"] = ERROR_ITEM_SCHEMA
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IntegrityError)
    async def _integrity_error(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # Services check uniqueness first; this is the race two concurrent requests can still
        # run into (the same email, the same member): the loser gets a 409, not a 500.
        return JSONResponse(
            {"detail": "This conflicts with a record written at the same moment; retry."},
            status_code=409,
        )

    _document_error_bodies(app)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            {"detail": exc.detail, **exc.extra}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        status, body = validation_payload(list(exc.errors()))
        return JSONResponse(body, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to a body it could not decode (bad UTF-8, nesting too deep).
            detail = "Malformed JSON body: the request body could not be parsed as JSON."
        elif exc.status_code == 404 and detail == "Not Found":
            detail = "No such route."
        elif exc.status_code == 405:
            detail = "Method not allowed on this route."
        return JSONResponse({"detail": detail}, status_code=exc.status_code)
