"""Hostile input: a property-based fuzz of the whole API from its OpenAPI document
(schemathesis), in process against the ASGI app, as an organization admin. Every response must
be a non-5xx that conforms to the documented schema.

Valid (positive) and schema-violating (negative) requests for every operation. Half of the
generated path ids are swapped, deterministically from the generated value, for the ids of
real objects, so the fuzz reaches the code behind the lookups and not only 404s; deletions run
last so they do not empty the world for the others. Webhook URLs it registers are never
delivered (no worker runs) and their names are never looked up on the network (the network
guard answers them locally). ``PLANWIRE_TEST_FUZZ_EXAMPLES`` raises the number of examples for
a longer hunt (with ``--timeout`` raised to match: 25 examples take about a minute).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import Actor, ActorFactory
from tests.reliability.helpers import (
    account_hooks,
    project_hooks,
    register_account_hook,
    register_project_hook,
)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

EXAMPLES = int(os.environ.get("PLANWIRE_TEST_FUZZ_EXAMPLES", "25"))


def _real_ids(admin: Actor, make_actor: ActorFactory, project: dict[str, Any]) -> Ids:
    """Objects of the admin's organization: ids for project-scoped and account routes, and
    valid values for body fields the generator cannot guess."""
    pid = project["id"]
    tasks = [
        admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": f"T{n}", "duration": 3}).json()
        for n in range(3)
    ]
    link = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": tasks[0]["id"], "successor_id": tasks[1]["id"]},
    ).json()
    project_hook = register_project_hook(admin, pid, "http://127.0.0.1:9/fuzz").json()
    account_hook = register_account_hook(admin, "http://127.0.0.1:9/fuzz").json()
    project_delivery = admin.post(project_hooks(pid, project_hook["id"], "test")).json()
    account_delivery = admin.post(
        account_hooks(account_hook["id"], "test"), json={"event": "task.updated"}
    ).json()
    spare_token = admin.post("/api/v1/tokens/", json={"name": "spare"}).json()["id"]
    colleague = make_actor(organization_id=admin.organization_id)
    common = {
        "project_id": pid,
        "task_id": tasks[1]["id"],
        "dependency_id": link["id"],
        "user_id": str(colleague.id),
        "token_id": spare_token,  # not the one the fuzz authenticates with
    }
    return Ids(
        project={
            **common,
            "webhook_id": project_hook["id"],
            "delivery_id": project_delivery["id"],
        },
        account={
            **common,
            "webhook_id": account_hook["id"],
            "delivery_id": account_delivery["id"],
            "log_id": account_delivery["id"],
        },
        fields={
            "url": "http://127.0.0.1:9/fuzz",
            "events": ["task.created", "task.updated"],
            "event": "task.updated",
            "predecessor_id": tasks[1]["id"],
            "successor_id": tasks[2]["id"],
            "user_id": str(colleague.id),
            "email": f"fuzz-{colleague.id.hex[:8]}@example.com",
        },
    )


@dataclass
class Ids:
    project: dict[str, str]
    account: dict[str, str]
    fields: dict[str, Any]


def _coin(value: Any) -> bool:
    """A fair coin that is a function of ``value`` (Hypothesis can replay and shrink)."""
    return hashlib.sha256(repr(value).encode()).digest()[0] % 2 == 0


def _with_real_ids(case: Any, ids: Ids) -> None:
    """Swap about half of the generated path ids, and of the body fields the generator cannot
    guess (a URL that is a target, event types, task ids), for real or valid ones."""
    real = ids.project if "{project_id}" in case.operation.path else ids.account
    # New dicts: the generated ones may be shared with the strategy (explicit examples), and
    # changing them in place makes Hypothesis's replay draw different data.
    if case.path_parameters:
        case.path_parameters = {
            name: real[name] if name in real and _coin(value) else value
            for name, value in case.path_parameters.items()
        }
    if isinstance(case.body, dict):
        case.body = {
            name: ids.fields[name] if name in ids.fields and _coin(value) else value
            for name, value in case.body.items()
        }


def _order(operation: Any) -> tuple[int, int, str]:
    """Deletions last, the project's own deletion at the very end."""
    deleting = operation.method.upper() == "DELETE"
    return (
        deleting,
        deleting and operation.path == "/api/v1/projects/{project_id}/",
        operation.label,
    )


def test_api_never_fails_and_answers_as_documented(
    app: FastAPI,
    admin: Actor,
    make_actor: ActorFactory,
    project: dict[str, Any],
    allow_name_lookups: object,
) -> None:
    ids = _real_ids(admin, make_actor, project)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    statuses: defaultdict[str, Counter[int]] = defaultdict(Counter)
    failures: list[str] = []
    for operation in operations:
        for mode, examples in (
            (GenerationMode.POSITIVE, EXAMPLES),
            (GenerationMode.NEGATIVE, max(EXAMPLES // 2, 1)),
        ):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
            )
            def check(case: Any) -> None:
                _with_real_ids(case, ids)
                response = case.call_and_validate(
                    headers=admin.headers, checks=[not_a_server_error, response_schema_conformance]
                )
                statuses[case.operation.label][response.status_code] += 1

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing in it can be made invalid
            except (Exception, pytest.fail.Exception) as exc:  # collect them all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert failures == [], "\n\n".join(failures)
    # Not vacuous: every operation ran, authenticated, and most reached their handler's success.
    assert len(statuses) == len(operations) > 40
    assert not [label for label, seen in statuses.items() if seen[401]], dict(statuses)
    succeeded = [label for label, seen in statuses.items() if any(200 <= s < 300 for s in seen)]
    assert len(succeeded) >= len(operations) * 2 // 3, dict(statuses)
