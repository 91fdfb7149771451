"""End to end: our deliveries, sent by HttpSender, verified by Node receivers written from the
webhook documents' JavaScript examples (tests/support/node_receiver.js)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from planwire.delivery.formats import build_request, generate_secret
from planwire.delivery.sender import HttpSender
from planwire.delivery.ssrf import TargetPolicy
from tests.support.receiver import NodeReceiver

HEX_SECRET = "your-webhook-secret-key"
STANDARD_SECRET = generate_secret("standard")

# Values where a naive JSON encoder and JavaScript disagree.
AWKWARD_DATA: dict[str, Any] = {
    "taskName": 'Développement « été » 😀 \u2028\u2029 \x00\x1f \x7f "quoted" \\ </script>',
    "bufferConsumption": 92.0,
    "ratio": 1e-7,
    "large": 1e21,
    "exactLarge": 1e16,
    "negativeZero": -0.0,
    "bigInteger": 2**64,
    "loneSurrogate": "\ud800",
    "surrogatePair": "\ud83d\ude00",
    "byDay": {"b": 1, "10": 2, "2": 3, "01": 4},
    "nested": [{"1": [1.5, 2.0], "0": None}],
}


@pytest.fixture(scope="module")
def hex_node() -> Iterator[NodeReceiver]:
    with NodeReceiver(HEX_SECRET) as node:
        yield node


@pytest.fixture(scope="module")
def standard_node() -> Iterator[NodeReceiver]:
    with NodeReceiver(STANDARD_SECRET) as node:
        yield node


def build(fmt: str, data: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    outgoing = build_request(
        fmt,
        delivery_id=uuid.uuid4(),
        event_type="task.red",
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        account_id=12345,
        project_id=uuid.uuid4(),
        webhook_public_id="wh_abc123def456",
        data=data,
        retry_count=1,
        secrets=[STANDARD_SECRET if fmt == "standard" else HEX_SECRET],
        custom_headers={"X-Custom-Header": "value"},
        user_agent="Planwire/test",
    )
    return outgoing.body, outgoing.headers


async def post(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    async with HttpSender(TargetPolicy(allow_private=True), timeout=10) as sender:
        outcome = await sender.send(url, body, headers)
    assert outcome.status in (200, 401), outcome
    result: dict[str, Any] = json.loads(outcome.body_excerpt)
    result["status"] = outcome.status
    return result


@pytest.mark.parametrize("data", [{"taskName": "Backend", "bufferConsumption": 92.5}, AWKWARD_DATA])
async def test_exepron_node_examples_accept_our_delivery(
    hex_node: NodeReceiver, data: dict[str, Any]
) -> None:
    body, headers = build("exepron", data)
    result = await post(hex_node.url("/webhooks/exepron"), body, headers)
    assert result["exepronExpress"] is True
    assert result["exepronTimingSafe"] is True
    assert result["exepronRaw"] is True
    assert result["status"] == 200


@pytest.mark.parametrize("fmt", ["trueppm", "standard"])
async def test_other_formats_verify_in_node(
    hex_node: NodeReceiver, standard_node: NodeReceiver, fmt: str
) -> None:
    node = standard_node if fmt == "standard" else hex_node
    body, headers = build(fmt, AWKWARD_DATA)
    result = await post(node.url("/hook"), body, headers)
    assert result[fmt] is True
    assert result["status"] == 200


async def test_node_receiver_rejects_python_default_json(hex_node: NodeReceiver) -> None:
    """The check has teeth: a body from Python's default json.dumps, signed correctly over its
    raw bytes, fails the documents' re-serializing Node checks."""
    body = json.dumps({"event": "task.red", "data": {"bufferConsumption": 92.0}}).encode()
    signature = hmac.new(HEX_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Exepron-Signature": signature}
    result = await post(hex_node.url("/webhooks/exepron"), body, headers)
    assert result["exepronRaw"] is True
    assert result["exepronExpress"] is False
    assert result["exepronTimingSafe"] is False
    assert result["status"] == 401


async def test_node_receiver_reports_each_request_on_stdout() -> None:
    with NodeReceiver(HEX_SECRET) as node:
        body, headers = build("exepron", {"taskName": "Backend"})
        await post(node.url("/first"), body, headers)
        (line,) = node.wait_for(1)
    assert line["path"] == "/first" and line["event"] == "task.red"
    assert line["exepronExpress"] is True and line["trueppm"] is None
