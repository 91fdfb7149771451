"""Users, organizations, API tokens and passwords.

Tokens are 256-bit random strings shown once; only their SHA-256 is stored, so the lookup by
hash is itself the constant-time comparison. Passwords use scrypt with a per-user salt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from planwire.auth.models import ApiToken, Organization, User
from planwire.db import utcnow
from planwire.errors import Conflict

TOKEN_PREFIX = "pw_"  # noqa: S105  (a prefix, not a secret)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_hex, digest_hex = stored.split("$", 2)
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def create_organization(session: Session, *, name: str) -> Organization:
    organization = Organization(name=name)
    session.add(organization)
    session.flush()
    return organization


def create_user(
    session: Session,
    *,
    organization_id: int,
    email: str,
    name: str,
    password: str | None = None,
    is_org_admin: bool = False,
) -> User:
    email = email.strip().lower()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"email: a user with email {email!r} already exists")
    user = User(
        organization_id=organization_id,
        email=email,
        name=name,
        password_hash=hash_password(password) if password else None,
        is_org_admin=is_org_admin,
    )
    session.add(user)
    session.flush()
    return user


def create_token(session: Session, *, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the clear token, which is never stored."""
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(clear), prefix=clear[:10])
    session.add(token)
    session.flush()
    return token, clear


def user_for_token(session: Session, clear: str) -> User | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(clear)))
    if token is None:
        return None
    now = utcnow()
    # Record use at most once a minute: a write per request would serialise readers on SQLite.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return token.user


def user_for_password(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password(password, None)
        return None
    return user if check_password(password, user.password_hash) else None


def get_user_in_org(session: Session, user_id: uuid.UUID, organization_id: int) -> User | None:
    user = session.get(User, user_id)
    if user is None or user.organization_id != organization_id:
        return None
    return user


def bootstrap(session: Session) -> tuple[User, str] | None:
    """On an empty database create an organization, an admin and a token (shown once)."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    organization = create_organization(session, name="My organization")
    admin = create_user(
        session,
        organization_id=organization.id,
        email="admin@planwire.local",
        name="Administrator",
        is_org_admin=True,
    )
    _, clear = create_token(session, user=admin, name="bootstrap")
    return admin, clear
