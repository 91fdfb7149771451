"""Page-number pagination: ``{"count", "next", "previous", "results"}``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


class Page(BaseModel, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]


@dataclass(frozen=True, slots=True)
class PageParams:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")
    ] = DEFAULT_PAGE_SIZE,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


def paginate_query(
    session: Session, query: Select[Any], params: PageParams
) -> tuple[int, Sequence[Any]]:
    """Run ``query`` for one page and count all rows it would return."""
    count = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.limit(params.page_size).offset(params.offset)).all()
    return int(count or 0), rows


def make_page(request: Request, params: PageParams, count: int, results: list[T]) -> Page[T]:
    def link(page: int) -> str:
        return str(request.url.include_query_params(page=page, page_size=params.page_size))

    has_next = params.offset + params.page_size < count
    return Page[T](
        count=count,
        next=link(params.page + 1) if has_next else None,
        previous=link(params.page - 1) if params.page > 1 else None,
        results=results,
    )
