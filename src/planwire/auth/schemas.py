"""API schemas of users and tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from planwire.api.types import NoNul

Email = Annotated[
    str,
    NoNul,
    Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", examples=["a@b.co"]),
]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Annotated[str, NoNul, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=8, max_length=200)] | None = None
    is_org_admin: bool = False


class UserOut(BaseModel):
    id: uuid.UUID
    organization_id: int
    email: str
    name: str
    is_org_admin: bool
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, NoNul, Field(min_length=1, max_length=200)] = "api"


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None

    model_config = ConfigDict(from_attributes=True)


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown once: store it now.")
