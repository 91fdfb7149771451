"""Web UI sessions and CSRF protection.

The session is a cookie signed with itsdangerous (``HttpOnly``, ``SameSite=Lax``, ``Secure``
over HTTPS, path ``/ui``). It holds the user id, the session's CSRF token, when it was issued and
how the user signed in: with a password (the cookie carries a keyed fingerprint of the password
hash, so a new password ends every session) or with an API token pasted into the sign-in form
(the cookie carries the token's id, so revoking the token ends the session). Nothing is stored
server-side.

Every visitor gets a session, signed in or not, so the sign-in form carries a CSRF token too.
Every POST must send the session's token as the ``csrf_token`` form field (or the
``X-CSRF-Token`` header); :func:`checked_form` refuses anything else with 403 before the route
runs. The UI session never authenticates the JSON API, which keeps the API free of CSRF.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from planwire.auth import service as auth_service
from planwire.auth.models import ApiToken, User
from planwire.config import Settings
from planwire.errors import Forbidden
from planwire.secrets_store import load_key

SESSION_COOKIE = "planwire_session"
FLASH_COOKIE = "planwire_flash"
COOKIE_PATH = "/ui"
SESSION_MAX_AGE = 14 * 24 * 3600
FLASH_MAX_AGE = 120
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class UISession:
    csrf: str
    issued: int
    user_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None
    password_tag: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "c": self.csrf,
            "i": self.issued,
            "u": str(self.user_id) if self.user_id else None,
            "t": str(self.token_id) if self.token_id else None,
            "p": self.password_tag,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> UISession | None:
        if not isinstance(payload, dict):
            return None
        try:
            return cls(
                csrf=str(payload["c"]),
                issued=int(payload["i"]),
                user_id=uuid.UUID(payload["u"]) if payload.get("u") else None,
                token_id=uuid.UUID(payload["t"]) if payload.get("t") else None,
                password_tag=str(payload["p"]) if payload.get("p") else None,
            )
        except (KeyError, TypeError, ValueError):
            return None


def new_session() -> UISession:
    return UISession(csrf=secrets.token_urlsafe(32), issued=int(time.time()))


def _key(request: Request) -> bytes:
    """The signing key: ``PLANWIRE_SESSION_SECRET``, else derived from the secret key."""
    state = request.app.state
    key: bytes | None = getattr(state, "ui_session_key", None)
    if key is None:
        settings: Settings = state.settings
        if settings.session_secret:
            key = settings.session_secret.encode()
        else:
            key = hmac.new(load_key(settings), b"planwire.ui.session", hashlib.sha256).digest()
        state.ui_session_key = key
    return key


def _serializer(request: Request, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(_key(request), salt=salt)


def password_tag(request: Request, password_hash: str | None) -> str:
    digest = hmac.new(_key(request), (password_hash or "").encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def read_session(request: Request) -> UISession | None:
    """The valid session of this request's cookie, or None."""
    cached = getattr(request.state, "ui_session", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        session = UISession.from_payload(_serializer(request, "planwire.ui.session").loads(raw))
    except BadSignature:
        return None
    if session is None or not 0 <= time.time() - session.issued <= SESSION_MAX_AGE:
        return None
    request.state.ui_session = session
    return session


def current_session(request: Request) -> UISession:
    """The request's session, or a new anonymous one (written by :func:`save_session`)."""
    session = read_session(request)
    if session is None:
        session = new_session()
        request.state.ui_session = session
        request.state.ui_session_dirty = True
    return session


def start_session(request: Request, user: User, *, token_id: uuid.UUID | None = None) -> UISession:
    """A fresh signed-in session (new CSRF token: no fixation across sign-in)."""
    session = replace(
        new_session(),
        user_id=user.id,
        token_id=token_id,
        password_tag=None if token_id else password_tag(request, user.password_hash),
    )
    request.state.ui_session = session
    request.state.ui_session_dirty = True
    return session


def save_session(request: Request, response: Response) -> None:
    """Write the session cookie if this request created or changed the session."""
    session: UISession | None = getattr(request.state, "ui_session", None)
    if session is None or not getattr(request.state, "ui_session_dirty", False):
        return
    response.set_cookie(
        SESSION_COOKIE,
        _serializer(request, "planwire.ui.session").dumps(session.to_payload()),
        max_age=SESSION_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")


def signed_in_user(request: Request, db: Session) -> User | None:
    """The user of this request's session, if it is signed in and still valid."""
    session = read_session(request)
    if session is None or session.user_id is None:
        return None
    user = db.get(User, session.user_id)
    if user is None:
        return None
    if session.token_id is not None:
        token = db.get(ApiToken, session.token_id)
        return user if token is not None and token.user_id == user.id else None
    expected = password_tag(request, user.password_hash)
    if session.password_tag is None or not hmac.compare_digest(session.password_tag, expected):
        return None
    if user.password_hash is None:
        return None
    return user


def user_for_api_token(db: Session, clear: str) -> tuple[User, uuid.UUID] | None:
    """The user and token id of a pasted API token (recording its use, as the API does)."""
    user = auth_service.user_for_token(db, clear)
    if user is None:
        return None
    token_id = db.scalar(
        select(ApiToken.id).where(ApiToken.token_hash == auth_service.hash_token(clear))
    )
    return (user, token_id) if token_id is not None else None


def flash(request: Request, response: Response, message: str, kind: str = "ok") -> None:
    """A one-time message shown by the next page (after a redirect)."""
    value = _serializer(request, "planwire.ui.flash").dumps(
        {"m": message[:500], "k": kind, "i": int(time.time())}
    )
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=FLASH_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def take_flash(request: Request) -> tuple[str, str] | None:
    """The pending flash message ``(kind, text)``; the caller clears it with
    :func:`clear_flash`."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        payload = _serializer(request, "planwire.ui.flash").loads(raw)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or time.time() - int(payload.get("i", 0)) > FLASH_MAX_AGE:
        return None
    return str(payload.get("k", "ok")), str(payload.get("m", ""))


def clear_flash(response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")


def _same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin.

    The origin is compared with the Host header, or the host a reverse proxy forwarded (a
    cross-site form cannot set ``X-Forwarded-Host``: only a proxy adds it).
    """
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin != "null"
    sent = urlsplit(origin).netloc.lower()
    forwarded = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
    hosts = {request.headers.get("host", "").lower(), forwarded.lower()} - {""}
    return sent in hosts


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after checking its CSRF token against the session (403 otherwise)."""
    form = await request.form()
    session = read_session(request)
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if (
        session is None
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent.encode(), session.csrf.encode())
    ):
        raise Forbidden(
            "The form's security token is missing or out of date. Reload the page and try again."
        )
    if not _same_origin(request):
        raise Forbidden("Cross-site form submissions are refused.")
    return form
