"""Users (``/api/v1/users/``, ``/users/me/``) and API tokens (``/api/v1/tokens/``)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import Dump
from tests.conftest import Actor, ActorFactory


def test_me_describes_the_token_owner(admin: Actor) -> None:
    me = admin.get("/api/v1/users/me/")
    assert me.status_code == 200
    body = me.json()
    assert body["id"] == str(admin.id)
    assert body["email"] == admin.email
    assert body["organization_id"] == admin.organization_id
    assert body["is_org_admin"] is True
    assert "password_hash" not in body and "password" not in body


def test_org_admin_creates_users_and_lists_only_their_organization(
    admin: Actor, make_actor: ActorFactory
) -> None:
    stranger = make_actor(is_org_admin=True)  # another organization
    created = admin.post(
        "/api/v1/users/",
        json={"email": "New.Person@Example.com", "name": "New", "password": "long enough"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "new.person@example.com"
    assert body["organization_id"] == admin.organization_id
    assert body["is_org_admin"] is False
    assert "password" not in body and "password_hash" not in body

    listed = admin.get("/api/v1/users/").json()
    assert set(listed) == {"count", "next", "previous", "results"}
    emails = {u["email"] for u in listed["results"]}
    assert emails == {admin.email, "new.person@example.com"}
    assert listed["count"] == 2
    assert stranger.email not in emails
    assert {u["email"] for u in stranger.get("/api/v1/users/").json()["results"]} == {
        stranger.email
    }


def test_duplicate_email_is_a_conflict_naming_the_field(admin: Actor, dump: Dump) -> None:
    before = dump()
    response = admin.post("/api/v1/users/", json={"email": admin.email.upper(), "name": "Dup"})
    assert response.status_code == 409
    assert "email" in response.json()["detail"]
    assert dump() == before


def test_only_org_admins_create_users(make_actor: ActorFactory, admin: Actor, dump: Dump) -> None:
    plain = make_actor(organization_id=admin.organization_id)
    before = dump()
    response = plain.post("/api/v1/users/", json={"email": "x@example.com", "name": "X"})
    assert response.status_code == 403
    assert dump() == before


def test_user_list_is_paginated(admin: Actor, make_actor: ActorFactory) -> None:
    for _ in range(4):
        make_actor(organization_id=admin.organization_id)
    first = admin.get("/api/v1/users/?page_size=2").json()
    assert first["count"] == 5 and len(first["results"]) == 2
    assert first["previous"] is None and first["next"] is not None
    last = admin.get("/api/v1/users/?page=3&page_size=2").json()
    assert len(last["results"]) == 1 and last["next"] is None
    seen = {
        u["id"]
        for page in (1, 2, 3)
        for u in admin.get(f"/api/v1/users/?page={page}&page_size=2").json()["results"]
    }
    assert len(seen) == 5


def test_token_is_shown_once_listed_without_it_and_revoked_by_delete(
    admin: Actor, client: TestClient
) -> None:
    created = admin.post("/api/v1/tokens/", json={"name": "ci"})
    assert created.status_code == 201, created.text
    token: dict[str, Any] = created.json()
    secret = token["token"]
    assert secret.startswith("pw_") and len(secret) > 30
    assert secret.startswith(token["prefix"]) and len(token["prefix"]) < len(secret)

    as_new = {"Authorization": f"Bearer {secret}"}
    me = client.get("/api/v1/users/me/", headers=as_new)
    assert me.status_code == 200 and me.json()["id"] == str(admin.id)

    listed = admin.get("/api/v1/tokens/")
    assert listed.status_code == 200
    assert secret not in listed.text
    page = listed.json()
    assert set(page) == {"count", "next", "previous", "results"}
    names = {t["name"]: t for t in page["results"]}
    assert set(names) == {"test", "ci"}
    assert all("token" not in t for t in page["results"])
    assert names["ci"]["last_used_at"] is not None  # it was just used

    revoked = admin.delete(f"/api/v1/tokens/{token['id']}/")
    assert revoked.status_code == 204
    after = client.get("/api/v1/users/me/", headers=as_new)
    assert after.status_code == 401
    assert after.headers["www-authenticate"] == "Bearer"
    assert admin.get("/api/v1/users/me/").status_code == 200  # the other token still works
    assert admin.delete(f"/api/v1/tokens/{token['id']}/").status_code == 404


def test_a_user_cannot_see_or_revoke_another_users_token(
    admin: Actor, make_actor: ActorFactory, dump: Dump
) -> None:
    colleague = make_actor(organization_id=admin.organization_id)
    theirs = colleague.post("/api/v1/tokens/", json={"name": "mine"}).json()
    assert "mine" not in {t["name"] for t in admin.get("/api/v1/tokens/").json()["results"]}
    before = dump()
    assert admin.delete(f"/api/v1/tokens/{theirs['id']}/").status_code == 404
    assert dump() == before


def test_authentication_failures_are_401(client: TestClient, admin: Actor) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer pw_not-a-real-token"},
        {"Authorization": f"Basic {admin.token}"},
        {"Authorization": admin.token},
    ):
        response = client.get("/api/v1/users/me/", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"]
    # The scheme is case-insensitive.
    ok = client.get("/api/v1/users/me/", headers={"Authorization": f"bearer {admin.token}"})
    assert ok.status_code == 200
