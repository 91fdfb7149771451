"""Routes of users and API tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from planwire.api.deps import CurrentUser, SessionDep, require_org_admin
from planwire.auth import service
from planwire.auth.models import ApiToken, User
from planwire.auth.schemas import TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut
from planwire.errors import NotFound
from planwire.pagination import Page, PageParams, make_page, page_params, paginate_query

router = APIRouter(prefix="/api/v1", tags=["users"])
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/users/me/", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.get("/users/", response_model=Page[UserOut], summary="Users of your organization")
def list_users(
    request: Request, session: SessionDep, user: CurrentUser, paging: Paging
) -> Page[UserOut]:
    query = select(User).where(User.organization_id == user.organization_id).order_by(User.email)
    count, rows = paginate_query(session, query, paging)
    return make_page(request, paging, count, [UserOut.model_validate(u) for u in rows])


@router.post("/users/", response_model=UserOut, status_code=201, summary="Create a user (admin)")
def create_user(data: UserCreate, session: SessionDep, user: CurrentUser) -> UserOut:
    require_org_admin(user)
    created = service.create_user(
        session,
        organization_id=user.organization_id,
        email=data.email,
        name=data.name,
        password=data.password,
        is_org_admin=data.is_org_admin,
    )
    return UserOut.model_validate(created)


@router.get("/tokens/", response_model=Page[TokenOut], tags=["tokens"], summary="Your tokens")
def list_tokens(
    request: Request, session: SessionDep, user: CurrentUser, paging: Paging
) -> Page[TokenOut]:
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    count, rows = paginate_query(session, query, paging)
    return make_page(request, paging, count, [TokenOut.model_validate(t) for t in rows])


@router.post("/tokens/", response_model=TokenCreated, status_code=201, tags=["tokens"])
def create_token(data: TokenCreate, session: SessionDep, user: CurrentUser) -> TokenCreated:
    token, clear = service.create_token(session, user=user, name=data.name)
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=clear)


@router.delete("/tokens/{token_id}/", status_code=204, tags=["tokens"])
def revoke_token(token_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"Token {token_id} not found.")
    session.delete(token)
    return Response(status_code=204)
