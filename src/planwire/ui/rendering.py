"""Rendering: the Jinja2 environment, page responses, and errors shown as pages.

Routes of the UI router use :class:`UIRoute`, which turns the API's errors (``NotFound``,
``Forbidden``, ...) into HTML pages with the same status code, and :class:`SignInRequired` into
a redirect to the sign-in page (or a 401 page for a POST).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from planwire import __version__
from planwire.auth.models import User
from planwire.errors import ApiError
from planwire.ui import auth

STATIC_DIR = Path(__file__).parent / "static"


class SignInRequired(Exception):
    """The page needs a signed-in user."""


@dataclass(frozen=True, slots=True)
class Visitor:
    """What the page header shows of the signed-in user, kept for error pages (rendered after
    the request's session is gone)."""

    name: str
    email: str
    is_org_admin: bool

    @classmethod
    def of(cls, user: User) -> Visitor:
        return cls(user.name, user.email, user.is_org_admin)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def safe_next(value: str | None) -> str:
    """A local UI path to go to after signing in (never another site)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/projects"


def _fmt_date(value: date | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%a %d %b %Y")


def _fmt_short_date(value: date | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%d %b")


def _fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        seconds = -seconds
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"in {math.floor(seconds / size)} {unit}"
        return f"in {math.ceil(seconds)} s"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{math.floor(seconds / size)} {unit} ago"
    return "just now" if seconds < 5 else f"{math.floor(seconds)} s ago"


def _fmt_pct(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}%"


def _fmt_num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _px(value: float) -> str:
    """A coordinate for SVG: two decimals at most."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _static(name: str) -> str:
    return f"/ui/static/{name}?v={__version__}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("planwire.ui", "templates"),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        date=_fmt_date,
        short_date=_fmt_short_date,
        datetime=_fmt_datetime,
        ago=_fmt_ago,
        pct=_fmt_pct,
        num=_fmt_num,
        px=_px,
        urlquote=lambda value: quote(str(value), safe=""),
    )
    env.globals.update(static=_static, version=__version__)
    return env


ENV = _environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a template with the common context (session CSRF token, flash, signed-in user)."""
    session = auth.current_session(request)
    flash = auth.take_flash(request)
    values: dict[str, Any] = {
        "request": request,
        "csrf_token": session.csrf,
        "flash": flash,
        "user": None,
        "nav": "",
        "htmx": is_htmx(request),
        **(context or {}),
    }
    html = ENV.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers.setdefault("Vary", "HX-Request, Cookie")
    response.headers.setdefault("Cache-Control", "no-store")
    if flash is not None:
        auth.clear_flash(response)
    auth.save_session(request, response)
    return response


def redirect(request: Request, url: str, message: str | None = None, kind: str = "ok") -> Response:
    """303 See Other to ``url`` (after a POST), with a flash message for the next page."""
    if is_htmx(request):
        response: Response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if message:
        auth.flash(request, response, message, kind)
    auth.save_session(request, response)
    return response


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    titles = {
        400: "Bad request",
        401: "Sign-in required",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        422: "Cannot do that",
    }
    return render(
        request,
        "error.html",
        {
            "title": titles.get(status_code, "Something went wrong"),
            "message": message,
            "status_code": status_code,
            "user": getattr(request.state, "ui_user", None),
        },
        status_code=status_code,
    )


def _sign_in_response(request: Request) -> Response:
    target = "/ui/login?next=" + quote(safe_next(str(request.url.path)), safe="/")
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.method in ("GET", "HEAD"):
        return RedirectResponse(target, status_code=303)
    return error_page(request, 401, "Your session has ended. Sign in again, then retry.")


class UIRoute(APIRoute):
    """An APIRoute whose failures are pages: API errors keep their status, bad path values are
    a 404 page, and an anonymous visitor is sent to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ui_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return _sign_in_response(request)
            except ApiError as exc:
                return error_page(request, exc.status_code, exc.detail)
            except RequestValidationError as exc:
                errors = list(exc.errors())
                if errors and errors[0].get("loc", ("",))[0] == "path":
                    return error_page(request, 404, "There is no such page.")
                return error_page(request, 400, "The address has a value this page cannot use.")

        return ui_handler
