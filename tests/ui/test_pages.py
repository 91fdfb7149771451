"""The web UI's pages through the FastAPI TestClient: sign-in, roles, CSRF, forms, secrets."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, update

from planwire.auth.models import ApiToken
from planwire.events.models import Event
from planwire.tasks.models import Task
from planwire.webhooks.models import Delivery, DeliveryAttempt, Webhook
from tests.conftest import Actor, ActorFactory
from tests.ui.conftest import PASSWORD, SignIn, UIUser, csrf_of

ROLES = {"viewer": 1, "member": 2, "manager": 3, "admin": 4}
HOOK_SECRET = "hook-secret-7f3a9c2e"
HEADER_CREDENTIAL = "Bearer crm-credential-51d0"


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def events_of(engine: Engine, type: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(Event.type, Event.data).where(Event.type == type))
        return [dict(r._mapping) for r in rows]


def fail_delivery(engine: Engine, delivery_id: uuid.UUID) -> None:
    """What the worker leaves after a delivery used up its retries (no worker runs here)."""
    with engine.begin() as connection:
        connection.execute(
            DeliveryAttempt.__table__.insert().values(
                delivery_id=delivery_id,
                attempt_number=1,
                duration_ms=31.5,
                request_headers={
                    "Content-Type": "application/json",
                    "X-TruePPM-Signature": "<redacted>",
                    "Authorization": "<redacted>",
                },
                response_status=500,
                response_body="upstream exploded",
                error_kind="status",
                error="HTTP 500",
            )
        )
        connection.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(status="failed", attempt_count=1, response_status=500, last_error="HTTP 500")
        )


@pytest.fixture
def hook(org_admin: Actor, planned_project: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """A project webhook (created through the API) with one failed delivery."""
    response = org_admin.post(
        f"/api/v1/projects/{planned_project['id']}/webhooks/",
        json={
            "url": "http://127.0.0.1:9/hook",
            "secret": HOOK_SECRET,
            "events": ["task.updated", "task.created"],
            "headers": {"Authorization": HEADER_CREDENTIAL, "X-Team": "core"},
        },
    )
    assert response.status_code == 201, response.text
    created = dict(response.json())
    tested = org_admin.post(
        f"/api/v1/projects/{planned_project['id']}/webhooks/{created['id']}/test/", json={}
    )
    assert tested.status_code == 202, tested.text
    fail_delivery(engine, uuid.UUID(tested.json()["id"]))
    created["delivery_id"] = tested.json()["id"]
    created["page"] = f"/ui/projects/{planned_project['id']}/integrations/{created['id']}"
    return created


class People:
    """Users signed in on first use: one per project role (``viewer`` … ``admin``) and the
    organization admin (``org_admin``). Iterating signs everyone in."""

    def __init__(self, make: Callable[[str], UIUser]) -> None:
        self._make = make
        self._users: dict[str, UIUser] = {}

    def __getitem__(self, name: str) -> UIUser:
        if name not in self._users:
            self._users[name] = self._make(name)
        return self._users[name]

    def items(self) -> list[tuple[str, UIUser]]:
        return [(name, self[name]) for name in [*ROLES, "org_admin"]]


@pytest.fixture
def people(
    planned_project: dict[str, Any],
    member_with_role: Callable[[str, int], Actor],
    org_admin: Actor,
    sign_in: SignIn,
) -> People:
    def make(name: str) -> UIUser:
        if name == "org_admin":
            return sign_in(org_admin)
        return sign_in(member_with_role(planned_project["id"], ROLES[name]))

    return People(make)


# --- sign-in and sessions ------------------------------------------------------------------------


def test_pages_need_a_session_and_send_the_visitor_to_sign_in(client: Any) -> None:
    response = client.get("/ui/projects", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/projects"
    login = client.get("/ui/login")
    assert login.status_code == 200
    assert 'name="password"' in login.text and 'name="token"' in login.text
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/projects"


def test_wrong_password_gets_a_401_page(org_admin: Actor, new_client: Any) -> None:
    client = new_client()
    token = csrf_of(client.get("/ui/login").text)
    response = client.post(
        "/ui/login",
        data={"csrf_token": token, "email": org_admin.email, "password": "not it"},
    )
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert "not it" not in response.text
    assert client.get("/ui/projects", follow_redirects=False).status_code == 303


def test_sign_in_sets_a_signed_httponly_lax_cookie(org_admin: Actor, new_client: Any) -> None:
    client = new_client()
    token = csrf_of(client.get("/ui/login").text)
    response = client.post(
        "/ui/login",
        data={
            "csrf_token": token,
            "email": org_admin.email.upper(),
            "password": PASSWORD,
            "next": "/ui/webhooks",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/webhooks"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("planwire_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ui" in cookie
    page = client.get("/ui/projects")
    assert page.status_code == 200
    assert csrf_of(page.text) != token  # a new session (and token) after signing in


def test_sign_in_with_an_api_token_ends_when_the_token_is_revoked(
    org_admin: Actor, new_client: Any, engine: Engine
) -> None:
    client = new_client()
    token = csrf_of(client.get("/ui/login").text)
    wrong = client.post("/ui/login", data={"csrf_token": token, "token": "pw_nope"})
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    response = client.post(
        "/ui/login", data={"csrf_token": token, "token": org_admin.token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/ui/projects").status_code == 200
    with engine.begin() as connection:  # revoke it
        connection.execute(delete(ApiToken).where(ApiToken.user_id == org_admin.id))
    assert client.get("/ui/projects", follow_redirects=False).status_code == 303


def test_a_new_password_ends_existing_sessions(
    org_admin: Actor, sign_in: SignIn, engine: Engine
) -> None:
    from planwire.auth.models import User
    from planwire.auth.service import hash_password

    user = sign_in(org_admin)
    with engine.begin() as connection:
        connection.execute(
            update(User).where(User.id == org_admin.id).values(password_hash=hash_password("new"))
        )
    assert user.get("/ui/projects", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(org_admin: Actor, sign_in: SignIn) -> None:
    user = sign_in(org_admin)
    response = user.post("/ui/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    assert 'planwire_session=""' in response.headers["set-cookie"]
    assert user.get("/ui/projects", follow_redirects=False).status_code == 303
    assert "You are signed out." in user.get("/ui/login").text


def test_a_tampered_cookie_is_no_session(org_admin: Actor, sign_in: SignIn) -> None:
    user = sign_in(org_admin)
    value = user.client.cookies.get("planwire_session")
    assert value
    user.client.cookies.clear()
    user.client.cookies.set(
        "planwire_session", value[:-3] + ("xyz" if value[-3:] != "xyz" else "abc")
    )
    assert user.get("/ui/projects", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_ui(org_admin: Actor, new_client: Any) -> None:
    for target in ("https://evil.example/", "//evil.example/ui", "/api/v1/users/me/"):
        client = new_client()
        token = csrf_of(client.get("/ui/login").text)
        response = client.post(
            "/ui/login",
            data={
                "csrf_token": token,
                "email": org_admin.email,
                "password": PASSWORD,
                "next": target,
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == "/ui/projects"


def test_the_ui_session_does_not_authenticate_the_api(org_admin: Actor, sign_in: SignIn) -> None:
    user = sign_in(org_admin)
    assert user.get("/api/v1/users/me/").status_code == 401


# --- CSRF ----------------------------------------------------------------------------------------


def test_posts_without_the_session_csrf_token_get_403(
    people: People, planned_project: dict[str, Any], engine: Engine, new_client: Any
) -> None:
    admin = people["org_admin"]
    url = f"/ui/projects/{planned_project['id']}/tasks"
    task = {"name": "Sneaky", "duration": "1"}
    assert admin.forge(url, task).status_code == 403
    assert admin.forge(url, {**task, "csrf_token": "x" * 43}).status_code == 403
    other_session = csrf_of(new_client().get("/ui/login").text)
    assert admin.forge(url, {**task, "csrf_token": other_session}).status_code == 403
    cross_site = admin.post(url, task, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert "security token" in admin.forge(url, task).text
    assert count(engine, Task, Task.name == "Sneaky") == 0
    # the header form works too (htmx can send it)
    sent = admin.client.post(
        url, data=task, headers={"X-CSRF-Token": admin.csrf}, follow_redirects=False
    )
    assert sent.status_code == 303
    assert count(engine, Task, Task.name == "Sneaky") == 1
    # behind a reverse proxy the browser's origin is the forwarded host
    proxied = admin.post(
        url,
        {**task, "name": "Proxied"},
        headers={"Origin": "https://plan.example", "X-Forwarded-Host": "plan.example"},
    )
    assert proxied.status_code == 303


def test_sign_in_and_sign_out_check_csrf_too(org_admin: Actor, new_client: Any) -> None:
    client = new_client()
    client.get("/ui/login")
    response = client.post("/ui/login", data={"email": org_admin.email, "password": PASSWORD})
    assert response.status_code == 403
    assert client.post("/ui/logout", data={}).status_code == 403


# --- roles ---------------------------------------------------------------------------------------


def test_every_page_renders_for_each_role(
    people: People, planned_project: dict[str, Any], hook: dict[str, Any]
) -> None:
    project_url = f"/ui/projects/{planned_project['id']}"
    for name, user in people.items():
        for url in (
            "/ui/projects",
            project_url,
            project_url + "/integrations",
            hook["page"],
            hook["page"] + "?status=failed",
            hook["page"] + "/log",
        ):
            response = user.get(url)
            assert response.status_code == 200, (name, url, response.text[:300])
            assert "Launch" in response.text or url.endswith("/log"), (name, url)
        managing = name in ("admin", "org_admin")
        for url in (project_url + "/integrations/new", hook["page"] + "/edit"):
            assert user.get(url).status_code == (200 if managing else 403), (name, url)
        account = user.get("/ui/webhooks")
        assert account.status_code == (200 if name == "org_admin" else 403), name


def test_the_project_page_draws_the_schedule(
    people: People, planned_project: dict[str, Any]
) -> None:
    html = people["viewer"].get(f"/ui/projects/{planned_project['id']}").text
    assert html.count('class="bar') >= 4  # Design, Build, Docs, Test
    assert 'class="milestone' in html  # Ship
    assert html.count('class="arrow') == 5
    assert 'class="arrow chain"' in html
    assert 'data-buffer="project"' in html
    assert 'class="chart fever"' in html
    assert "Project buffer" in html


def _controls(html: str) -> dict[str, bool]:
    return {
        "progress": "/progress" in html,
        "add_task": 'id="add-task"' in html,
        "add_link": 'id="add-link"' in html,
        "status": "/status" in html,
        "delete": "/delete" in html,
        "add_webhook": "Add webhook" in html,
        "webhook_actions": any(
            part in html for part in ("/pause", "/resume", "/test", "/edit", "/redeliver")
        ),
    }


def test_controls_follow_the_roles_and_a_viewer_sees_none(
    people: People, planned_project: dict[str, Any], hook: dict[str, Any]
) -> None:
    project_url = f"/ui/projects/{planned_project['id']}"
    expected = {
        "viewer": set(),
        "member": {"progress", "add_task", "add_link", "delete"},
        "manager": {"progress", "add_task", "add_link", "delete", "status"},
        "admin": {"progress", "add_task", "add_link", "delete", "status"},
        "org_admin": {"progress", "add_task", "add_link", "delete", "status"},
    }
    for name, user in people.items():
        shown = {k for k, v in _controls(user.get(project_url).text).items() if v}
        assert shown == expected[name], name
        integrations = _controls(user.get(project_url + "/integrations").text)
        webhook = _controls(user.get(hook["page"]).text)
        managing = name in ("admin", "org_admin")
        assert integrations["add_webhook"] is managing, name
        assert webhook["webhook_actions"] is managing, name
        assert ("Redeliver" in user.get(hook["page"]).text) is managing, name


def test_forged_posts_from_a_viewer_get_403_and_change_nothing(
    people: People, planned_project: dict[str, Any], hook: dict[str, Any], engine: Engine
) -> None:
    viewer = people["viewer"]
    project_url = f"/ui/projects/{planned_project['id']}"
    tasks = planned_project["tasks"]
    forged = [
        (project_url + "/tasks", {"name": "Forged", "duration": "1"}),
        (
            project_url + "/dependencies",
            {"predecessor_id": tasks["docs"], "successor_id": tasks["test"]},
        ),
        (project_url + "/status", {"status": "Active"}),
        (
            f"/ui/tasks/{tasks['design']}/progress",
            {"remaining_duration": "1", "status": "InProgress"},
        ),
        (f"/ui/tasks/{tasks['design']}/delete", {}),
        (project_url + "/integrations", {"url": "http://127.0.0.1:9/x", "events_mode": "all"}),
        (hook["page"], {"url": "http://127.0.0.1:9/changed", "events_mode": "all"}),
        (hook["page"] + "/pause", {}),
        (hook["page"] + "/test", {"event": "task.updated"}),
        (hook["page"] + "/delete", {}),
        (hook["page"] + f"/deliveries/{hook['delivery_id']}/redeliver", {}),
        ("/ui/webhooks", {"url": "http://127.0.0.1:9/acct", "events_mode": "all"}),
    ]
    before = (
        count(engine, Task),
        count(engine, Webhook),
        count(engine, Delivery),
        count(engine, Event),
    )
    for url, data in forged:
        response = viewer.post(url, data)
        assert response.status_code == 403, (url, response.status_code)
        assert "Not allowed" in response.text
    after = (
        count(engine, Task),
        count(engine, Webhook),
        count(engine, Delivery),
        count(engine, Event),
    )
    assert after == before
    with engine.connect() as connection:
        row = connection.execute(select(Webhook.is_active, Webhook.url)).one()
    assert row.is_active and row.url == "http://127.0.0.1:9/hook"


def test_roles_below_the_minimum_get_403(
    people: People, planned_project: dict[str, Any], hook: dict[str, Any]
) -> None:
    project_url = f"/ui/projects/{planned_project['id']}"
    assert people["member"].post(project_url + "/status", {"status": "Active"}).status_code == 403
    assert people["manager"].post(hook["page"] + "/pause").status_code == 403
    assert people["admin"].post("/ui/webhooks", {"url": "http://127.0.0.1:9/a"}).status_code == 403
    assert people["manager"].post(project_url + "/status", {"status": "Active"}).status_code == 303


def test_another_organization_sees_nothing(
    planned_project: dict[str, Any], hook: dict[str, Any], make_actor: ActorFactory, sign_in: SignIn
) -> None:
    outsider = sign_in(make_actor(is_org_admin=True, password=PASSWORD))
    project_url = f"/ui/projects/{planned_project['id']}"
    assert outsider.get(project_url).status_code == 404
    assert outsider.get(hook["page"]).status_code == 404
    assert outsider.post(project_url + "/tasks", {"name": "x", "duration": "1"}).status_code == 404
    assert (
        f"/ui/webhooks/{hook['id']}"
        and outsider.get(f"/ui/webhooks/{hook['id']}").status_code == 404
    )
    assert "Launch" not in outsider.get("/ui/projects").text
    assert outsider.get("/ui/projects/not-a-uuid").status_code == 404


# --- projects, tasks, links ----------------------------------------------------------------------


def test_create_a_project_then_tasks_and_links_recalculate_and_fire_events(
    people: People, engine: Engine
) -> None:
    admin = people["org_admin"]
    refused = admin.post("/ui/projects", {"name": "Bad", "yellow_threshold": "95"})
    assert refused.status_code == 422
    assert "yellow_threshold must not be above red_threshold" in refused.text
    assert 'value="Bad"' in refused.text

    created = admin.post("/ui/projects", {"name": "Pilot", "start_date": "2026-06-01"})
    assert created.status_code == 303
    project_url = created.headers["location"]
    page = admin.get(project_url)
    assert "Project “Pilot” created." in page.text
    assert "Planning" in page.text

    for name, days in (("Plan", "3"), ("Run", "4")):
        assert (
            admin.post(project_url + "/tasks", {"name": name, "duration": days}).status_code == 303
        )
    bad = admin.post(project_url + "/tasks", {"name": "Oops", "duration": "-1"})
    assert bad.status_code == 422
    assert 'id="err-duration"' in bad.text

    ids = dict(
        (name, task_id)
        for task_id, name in re.findall(
            r'<tr id="task-([0-9a-f-]+)"[^>]*>\s*<td>\s*<strong>([^<]+)</strong>',
            admin.get(project_url).text,
        )
    )
    link = {"predecessor_id": ids["Plan"], "successor_id": ids["Run"], "type": "FS", "lag": "0"}
    assert admin.post(project_url + "/dependencies", link).status_code == 303
    cycle = admin.post(
        project_url + "/dependencies",
        {**link, "predecessor_id": ids["Run"], "successor_id": ids["Plan"]},
    )
    assert cycle.status_code == 409
    assert "cycle" in cycle.text

    page = admin.get(project_url).text
    assert re.search(r"<div class=\"value\">7<span", page)  # 3 + 4 working days
    assert len(events_of(engine, "task.created")) >= 2
    assert len(events_of(engine, "dependency.created")) >= 1
    assert events_of(engine, "schedule.recalculated")

    activated = admin.post(project_url + "/status", {"status": "Active"})
    assert activated.status_code == 303
    assert "now Active" in admin.get(project_url).text
    assert [e["data"]["projectName"] for e in events_of(engine, "project.started")] == ["Pilot"]
    again = admin.post(project_url + "/status", {"status": "Planning"})
    assert again.status_code == 409
    assert "cannot go from Active to Planning" in again.text


def test_progress_updates_answer_htmx_with_the_schedule_and_others_with_a_redirect(
    people: People, planned_project: dict[str, Any], hook: dict[str, Any], engine: Engine
) -> None:
    member = people["member"]
    design = planned_project["tasks"]["design"]
    url = f"/ui/tasks/{design}/progress"
    deliveries = count(engine, Delivery)

    fragment = member.post(
        url, {"remaining_duration": "2", "status": "InProgress"}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="schedule">')
    assert "<html" not in fragment.text
    assert "Saved progress of “Design”." in fragment.text
    assert 'id="rem-' + design + '"' in fragment.text and 'value="2"' in fragment.text
    with engine.connect() as connection:
        task = connection.execute(
            select(Task.status, Task.remaining_duration).where(Task.id == uuid.UUID(design))
        ).one()
    assert (task.status, task.remaining_duration) == ("InProgress", 2)
    assert count(engine, Delivery) > deliveries  # task.updated went to the webhook

    refused = member.post(
        url, {"remaining_duration": "3", "status": "Completed"}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 422
    assert "must be 0 for a Completed task" in refused.text
    assert 'class="row-error"' in refused.text or "row-error" in refused.text

    plain = member.post(url, {"remaining_duration": "1", "status": "InProgress"})
    assert plain.status_code == 303
    assert plain.headers["location"].endswith(f"#task-{design}")


def test_deleting_tasks_and_links(
    people: People, planned_project: dict[str, Any], engine: Engine
) -> None:
    member = people["member"]
    page = member.get(f"/ui/projects/{planned_project['id']}").text
    (link_id, *_) = re.findall(r'action="/ui/dependencies/([0-9a-f-]+)/delete"', page)
    assert member.post(f"/ui/dependencies/{link_id}/delete").status_code == 303
    assert member.post(f"/ui/tasks/{planned_project['tasks']['docs']}/delete").status_code == 303
    assert count(engine, Task, Task.project_id == uuid.UUID(planned_project["id"])) == 4
    assert events_of(engine, "task.deleted")


# --- integrations --------------------------------------------------------------------------------


def test_no_secret_appears_in_any_page_after_creation(
    people: People, planned_project: dict[str, Any], hook: dict[str, Any]
) -> None:
    admin = people["org_admin"]
    integrations_url = f"/ui/projects/{planned_project['id']}/integrations"
    created = admin.post(
        integrations_url,
        {
            "url": "http://127.0.0.1:9/ui-made",
            "format": "standard",
            "events_mode": "some",
            "events": ["task.updated", "milestone.achieved"],
            "retry_schedule": "1, 5.5, 30",
            "header_name": ["X-Api-Key", "X-Env", ""],
            "header_value": ["key-9c1d7e5a", "prod", ""],
        },
    )
    assert created.status_code == 201
    shown = re.search(r'id="webhook-secret">(whsec_[^<]+)<', created.text)
    assert shown, created.text
    secret = shown.group(1)
    account = admin.post(
        "/ui/webhooks",
        {
            "name": "Ops",
            "url": "http://127.0.0.1:9/acct",
            "events_mode": "all",
            "secret": "acct-secret-2b9e",
        },
    )
    assert account.status_code == 201
    assert "acct-secret-2b9e" in account.text
    account_page = re.search(r'href="(/ui/webhooks/[0-9a-f-]+)"', account.text)
    assert account_page

    webhook_pages = re.findall(
        rf'href="({integrations_url}/[0-9a-f-]+)"', admin.get(integrations_url).text
    )
    assert len(set(webhook_pages)) == 2
    pages = [
        integrations_url,
        "/ui/webhooks",
        account_page.group(1),
        account_page.group(1) + "/edit",
    ]
    for page in set(webhook_pages):
        pages += [page, page + "/edit", page + "/log"]
    for name, user in people.items():
        for url in pages:
            response = user.get(url)
            if response.status_code != 200:
                continue
            for hidden in (
                secret,
                HOOK_SECRET,
                "acct-secret-2b9e",
                HEADER_CREDENTIAL,
                "key-9c1d7e5a",
            ):
                assert hidden not in response.text, (name, url, hidden)
    edit = admin.get(hook["page"] + "/edit").text
    assert 'value="&lt;redacted&gt;"' in edit and 'value="core"' in edit


def test_webhook_form_refusals_name_the_field(
    people: People, planned_project: dict[str, Any]
) -> None:
    admin = people["org_admin"]
    url = f"/ui/projects/{planned_project['id']}/integrations"
    cases = [
        (
            {"url": "ftp://example.com/x", "events_mode": "all", "format": "trueppm"},
            "url",
            "http or https",
        ),
        ({"url": "http://127.0.0.1:9/x", "events_mode": "some"}, "events", "at least one event"),
        (
            {"url": "http://127.0.0.1:9/x", "events_mode": "some", "events": ["task.nope"]},
            "events",
            "unknown event type",
        ),
        (
            {"url": "http://127.0.0.1:9/x", "events_mode": "all", "retry_schedule": "10, soon"},
            "retry_schedule",
            "seconds",
        ),
        (
            {"url": "http://127.0.0.1:9/x", "events_mode": "all", "secret": "short"},
            "secret",
            "8 to 256",
        ),
        (
            {
                "url": "http://127.0.0.1:9/x",
                "events_mode": "all",
                "header_name": ["X-Planwire-Event"],
                "header_value": ["x"],
            },
            "headers",
            "set by Planwire",
        ),
    ]
    for data, field, message in cases:
        response = admin.post(url, data)
        assert response.status_code == 422, (data, response.status_code)
        error = re.search(rf'id="err-{field}">([^<]+)<', response.text)
        assert error and message in error.group(1), (field, response.text[-2000:])
        assert 'value="http' in response.text or field == "url"


def test_pause_test_resume_redeliver_and_edit_through_the_ui(
    people: People, hook: dict[str, Any], engine: Engine
) -> None:
    admin = people["admin"]
    page = hook["page"]
    paused = admin.post(page + "/pause", follow_redirects=True)
    assert "Paused" in paused.text and "wh-paused" in paused.text
    refused = admin.post(page + "/test", {"event": "task.created"}, follow_redirects=True)
    assert "resume it before sending a test delivery" in refused.text
    resumed = admin.post(page + "/resume", follow_redirects=True)
    assert "Resumed" in resumed.text and "wh-active" in resumed.text
    tests_before = count(engine, Delivery, Delivery.is_test.is_(True))
    sent = admin.post(page + "/test", {"event": "task.created"}, follow_redirects=True)
    assert "Test task.created event queued" in sent.text
    assert count(engine, Delivery, Delivery.is_test.is_(True)) == tests_before + 1
    assert 'hx-trigger="every 2s"' in sent.text  # the log refreshes itself while pending

    failed = admin.get(page + "?status=failed").text
    assert "upstream exploded" in failed and "HTTP 500" in failed
    assert "X-TruePPM-Signature" in failed and "&lt;redacted&gt;" in failed
    again = admin.post(page + f"/deliveries/{hook['delivery_id']}/redeliver", follow_redirects=True)
    assert "Redelivery queued" in again.text
    with engine.connect() as connection:
        status = connection.scalar(
            select(Delivery.status).where(Delivery.id == uuid.UUID(hook["delivery_id"]))
        )
    assert status == "pending"
    twice = admin.post(page + f"/deliveries/{hook['delivery_id']}/redeliver", follow_redirects=True)
    assert "only a failed delivery can be redelivered" in twice.text

    saved = admin.post(
        page,
        {
            "url": "http://127.0.0.1:9/hook-v2",
            "format": "trueppm",
            "events_mode": "all",
            "header_name": ["Authorization", "X-Team"],
            "header_value": ["<redacted>", "platform"],
        },
    )
    assert saved.status_code == 303
    with engine.connect() as connection:
        row = connection.execute(select(Webhook.url, Webhook.events, Webhook.headers)).one()
    assert row.url == "http://127.0.0.1:9/hook-v2" and row.events == []
    assert row.headers == {"Authorization": HEADER_CREDENTIAL, "X-Team": "platform"}

    deleted = admin.post(page + "/delete")
    assert deleted.status_code == 303
    assert count(engine, Webhook) == 0


def test_htmx_helpers_and_static_files(people: People, client: Any) -> None:
    admin = people["org_admin"]
    row = admin.get("/ui/fragments/header-row")
    assert row.status_code == 200 and 'name="header_name"' in row.text
    script = client.get("/ui/static/htmx.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.text.startswith("/* htmx 4.0.1") and "0BSD" in script.text.splitlines()[0]
    assert client.get("/ui/static/planwire.css").headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/../app.py").status_code == 404
    assert client.get("/ui/static/nope.js").status_code == 404


def test_a_schedule_past_9999_is_a_form_error_and_writes_nothing(
    people: People, planned_project: dict[str, Any], engine: Engine
) -> None:
    admin = people["org_admin"]
    url = f"/ui/projects/{planned_project['id']}/tasks"
    before = count(engine, Task)
    response = admin.post(
        url, {"name": "Far away", "duration": "400", "start_no_earlier_than": "9999-06-01"}
    )
    assert response.status_code == 422
    assert "9999-12-31" in response.text
    assert count(engine, Task) == before


def test_a_disabled_webhook_shows_why_and_can_be_re_enabled(
    people: People, planned_project: dict[str, Any], hook: dict[str, Any], engine: Engine
) -> None:
    from planwire.db import utcnow

    reason = "Failing for 120 hours (last error: HTTP 500)"
    with engine.begin() as connection:
        connection.execute(
            update(Webhook).values(is_active=False, disabled_at=utcnow(), disabled_reason=reason)
        )
    admin = people["admin"]
    listing = admin.get(f"/ui/projects/{planned_project['id']}/integrations").text
    assert "wh-disabled" in listing and reason in listing
    page = admin.get(hook["page"]).text
    assert "Disabled automatically" in page and reason in page and "Re-enable" in page
    viewer_page = people["viewer"].get(hook["page"]).text
    assert reason in viewer_page and "Re-enable" not in viewer_page
    admin.post(hook["page"] + "/resume")
    with engine.connect() as connection:
        row = connection.execute(select(Webhook.is_active, Webhook.disabled_at)).one()
    assert row.is_active and row.disabled_at is None


def test_the_delivery_log_is_paginated_newest_first(
    people: People, planned_project: dict[str, Any], hook: dict[str, Any], org_admin: Actor
) -> None:
    test_url = f"/api/v1/projects/{planned_project['id']}/webhooks/{hook['id']}/test/"
    for _ in range(21):
        assert org_admin.post(test_url, json={"event": "task.created"}).status_code == 202
    viewer = people["viewer"]
    first = viewer.get(hook["page"]).text
    assert "22 deliveries" in first
    assert first.count('class="delivery"') == 20
    assert "Page 1 of 2" in first and "?page=2" in first
    assert 'hx-trigger="every 2s"' in first  # pending deliveries: the log refreshes itself
    second = viewer.get(hook["page"] + "?page=2").text
    assert second.count('class="delivery"') == 2
    assert "Page 2 of 2" in second
    assert 'data-status="failed"' in second  # the oldest, failed one is last
    failed_only = viewer.get(hook["page"] + "?status=failed").text
    assert failed_only.count('class="delivery"') == 1
    assert viewer.get(hook["page"] + "?status=bogus").status_code == 400
