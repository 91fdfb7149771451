"""The three wire formats: bodies, signatures as the documents verify them, headers, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask, jsonify, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from planwire.delivery import jsonjs
from planwire.delivery.formats import (
    MAX_RETRY_DELAY,
    RESERVED_HEADERS,
    RETRY_AFTER_MAX_EXTRA,
    RETRY_POLICIES,
    OutgoingRequest,
    WireFormat,
    build_request,
    format_timestamp,
    generate_secret,
    next_delay,
    plan_retry,
    retry_policy,
    validate_custom_headers,
    validate_retry_schedule,
    validate_secret,
)
from planwire.delivery.sender import ErrorKind, Outcome

DELIVERY_ID = uuid.UUID("6f1c0d6e-8d2b-4f57-9a53-0f3c2b1a9e11")
EVENT_ID = uuid.UUID("0b8f2f65-3a1e-4f5e-bb0e-1d2c3b4a5f60")
PROJECT_ID = uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6")
OCCURRED = datetime(2026, 5, 11, 14, 30, 0, 987654, tzinfo=UTC)
DATA: dict[str, Any] = {
    "projectId": 789,
    "projectName": "Q1 Product Launch — «été» 😀",
    "bufferConsumption": 92.0,
    "criticalChainImpact": True,
}
SECRET = "your-shared-secret"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def build(fmt: str, **overrides: Any) -> OutgoingRequest:
    arguments: dict[str, Any] = {
        "delivery_id": DELIVERY_ID,
        "event_type": "project.started",
        "event_id": EVENT_ID,
        "occurred_at": OCCURRED,
        "account_id": 12345,
        "project_id": PROJECT_ID,
        "webhook_public_id": "wh_abc123def456",
        "data": DATA,
        "retry_count": 0,
        "secrets": [STANDARD_SECRET if fmt == "standard" else SECRET],
        "custom_headers": {},
        "user_agent": "Planwire/0.1.0 (+webhooks)",
    }
    arguments.update(overrides)
    return build_request(fmt, **arguments)


# --- bodies ---------------------------------------------------------------------------------------

_DATA_BYTES = '{"projectId":789,"projectName":"Q1 Product Launch — «été» 😀",'
_DATA_BYTES += '"bufferConsumption":92,"criticalChainImpact":true}'


def test_trueppm_body() -> None:
    body = build("trueppm").body
    assert (
        body
        == (
            '{"event":"project.started","project_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6",'
            '"timestamp":"2026-05-11T14:30:00Z","data":' + _DATA_BYTES + "}"
        ).encode()
    )


def test_trueppm_body_without_project() -> None:
    assert json.loads(build("trueppm", project_id=None).body)["project_id"] is None


def test_exepron_body() -> None:
    body = build("exepron", retry_count=2).body
    assert (
        body
        == (
            '{"webhookId":"wh_abc123def456","event":"project.started",'
            '"timestamp":"2026-05-11T14:30:00Z","accountId":12345,"data":' + _DATA_BYTES + ","
            '"metadata":{"version":"1.0","retryCount":2}}'
        ).encode()
    )


def test_standard_body() -> None:
    body = build("standard").body
    assert (
        body
        == (
            '{"type":"project.started","timestamp":"2026-05-11T14:30:00Z","data":'
            + _DATA_BYTES
            + "}"
        ).encode()
    )


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
def test_data_serialized_once_gives_the_same_request(fmt: str) -> None:
    """The worker serializes an event's data once for all its webhooks (``data_json``)."""
    signed = datetime(2026, 5, 11, 14, 30, 5, tzinfo=UTC)
    alone = build(fmt, retry_count=1, signed_at=signed)
    spliced = build(fmt, retry_count=1, signed_at=signed, data_json=jsonjs.dumps(DATA))
    assert spliced == alone
    assert json.loads(spliced.body)["data"] == json.loads(_DATA_BYTES)


def test_timestamps_are_utc_with_z() -> None:
    paris = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2026, 5, 11, 16, 30, tzinfo=paris)) == "2026-05-11T14:30:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2026, 5, 11, 16, 30))  # noqa: DTZ001 - the point of the test


def test_unknown_format_and_missing_secret_are_refused() -> None:
    with pytest.raises(ValueError):
        build("svix")
    with pytest.raises(ValueError, match="secret"):
        build("trueppm", secrets=[])


# --- headers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
def test_every_request_carries_the_common_headers(fmt: str) -> None:
    headers = build(fmt).headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Planwire/0.1.0 (+webhooks)"
    assert headers["X-Planwire-Event"] == "project.started"
    assert headers["X-Planwire-Event-Id"] == str(EVENT_ID)
    assert headers["X-Planwire-Delivery"] == str(DELIVERY_ID)


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
def test_delivery_id_is_stable_across_retries(fmt: str) -> None:
    first = build(fmt, retry_count=0).headers
    third = build(fmt, retry_count=2).headers
    assert first["X-Planwire-Delivery"] == third["X-Planwire-Delivery"] == str(DELIVERY_ID)


def test_trueppm_signature_header() -> None:
    outgoing = build("trueppm")
    expected = hmac.new(SECRET.encode(), outgoing.body, hashlib.sha256).hexdigest()
    assert outgoing.headers["X-TruePPM-Signature"] == "sha256=" + expected
    assert "X-Exepron-Signature" not in outgoing.headers


def test_exepron_signature_header_changes_with_retry_count() -> None:
    first, second = build("exepron", retry_count=0), build("exepron", retry_count=1)
    for outgoing in (first, second):
        expected = hmac.new(SECRET.encode(), outgoing.body, hashlib.sha256).hexdigest()
        assert outgoing.headers["X-Exepron-Signature"] == expected
    assert first.headers["X-Exepron-Signature"] != second.headers["X-Exepron-Signature"]


def test_hex_formats_sign_with_the_current_secret_during_rotation() -> None:
    outgoing = build("trueppm", secrets=["new-secret-value", SECRET])
    expected = hmac.new(b"new-secret-value", outgoing.body, hashlib.sha256).hexdigest()
    assert outgoing.headers["X-TruePPM-Signature"] == "sha256=" + expected


def test_standard_headers() -> None:
    signed_at = datetime.now(UTC)
    headers = build("standard", signed_at=signed_at).headers
    assert headers["webhook-id"] == str(DELIVERY_ID)
    assert headers["webhook-timestamp"] == str(int(signed_at.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert " " not in headers["webhook-signature"]


# --- the documents' own verification code accepts our deliveries ---------------------------------


# From the TruePPM document ("Example verification in Python"), as written there.
def verify(secret: str, body: bytes, signature: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def test_trueppm_document_example_accepts_our_signature() -> None:
    outgoing = build("trueppm")
    assert verify(SECRET, outgoing.body, outgoing.headers["X-TruePPM-Signature"])
    assert not verify(SECRET, outgoing.body + b" ", outgoing.headers["X-TruePPM-Signature"])


def _exepron_document_flask_app() -> Flask:
    """The Exepron document's Flask receiver (Step 1), as written there."""
    app = Flask(__name__)
    handled: list[str] = []
    app.config["handled"] = handled

    @app.route("/webhooks/exepron", methods=["POST"])
    def handle_webhook() -> Any:
        # Get the signature from headers
        signature = request.headers.get("X-Exepron-Signature")
        # Verify signature
        secret = os.environ.get("WEBHOOK_SECRET")
        payload = request.get_data()
        expected_signature = hmac.new(
            secret.encode("utf-8"),  # type: ignore[union-attr]
            payload,
            hashlib.sha256,
        ).hexdigest()
        if signature != expected_signature:
            return jsonify({"error": "Invalid signature"}), 401
        # Parse the webhook data
        data = request.get_json()
        event = data["event"]
        event_data = data["data"]
        # Handle the event
        if event == "project.started":
            handle_project_started(event_data)
        # Return success immediately
        return jsonify({"status": "success"}), 200

    def handle_project_started(data: dict[str, Any]) -> None:
        handled.append(f"Project {data['projectName']} has started")

    return app


def test_exepron_document_flask_receiver_accepts_our_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    app = _exepron_document_flask_app()
    outgoing = build("exepron")
    response = app.test_client().post(
        "/webhooks/exepron", data=outgoing.body, headers=outgoing.headers
    )
    assert response.status_code == 200, response.get_data()
    assert app.config["handled"] == ["Project Q1 Product Launch — «été» 😀 has started"]

    forged = dict(outgoing.headers, **{"X-Exepron-Signature": "0" * 64})
    response = app.test_client().post("/webhooks/exepron", data=outgoing.body, headers=forged)
    assert response.status_code == 401


# The Exepron document's other Python example, as written there: it signs json.dumps(payload),
# Python's default spacing ('", "', '": "') and ASCII escapes, while the Node examples sign
# JSON.stringify's compact form. One body cannot satisfy both; SPEC 5 picks the Node form.
def verify_webhook_signature(payload: Any, signature: str, secret: str) -> bool:
    """Verify the webhook signature using HMAC-SHA256"""
    # Compute expected signature
    expected_signature = hmac.new(
        secret.encode("utf-8"), json.dumps(payload).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    # Use timing-safe comparison
    return hmac.compare_digest(signature, expected_signature)


def test_exepron_reserializing_python_example_is_incompatible_with_the_node_examples() -> None:
    outgoing = build("exepron")
    payload = json.loads(outgoing.body)
    # Documented limitation: the bytes it signs are not the bytes any compact JSON sender sends.
    assert json.dumps(payload).encode() != outgoing.body
    assert not verify_webhook_signature(payload, outgoing.headers["X-Exepron-Signature"], SECRET)


def test_standardwebhooks_library_accepts_our_signature() -> None:
    outgoing = build("standard")
    assert Webhook(STANDARD_SECRET).verify(outgoing.body, outgoing.headers) == json.loads(
        outgoing.body
    )


def test_standardwebhooks_library_accepts_either_secret_during_rotation() -> None:
    new = generate_secret("standard")
    outgoing = build("standard", secrets=[new, STANDARD_SECRET])
    assert len(outgoing.headers["webhook-signature"].split(" ")) == 2
    for secret in (new, STANDARD_SECRET):
        Webhook(secret).verify(outgoing.body, outgoing.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret("standard")).verify(outgoing.body, outgoing.headers)


def test_standard_signature_is_refused_when_too_old() -> None:
    outgoing = build("standard", signed_at=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(STANDARD_SECRET).verify(outgoing.body, outgoing.headers)


# --- custom headers -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
def test_custom_headers_cannot_replace_reserved_ones(fmt: str) -> None:
    genuine = build(fmt).headers
    attempts = {
        "content-type": "text/plain",
        "USER-AGENT": "evil",
        "x-planwire-delivery": "forged",
        "X-PLANWIRE-Event": "forged",
        "x-planwire-anything": "forged",
        "x-truePPM-signature": "sha256=forged",
        "X-Exepron-Signature": "forged",
        "Webhook-Signature": "v1,forged",
        "webhook-id": "forged",
        "Connection": "close",
        "Transfer-Encoding": "chunked",
        "Host": "internal.example",
        "Content-Length": "0",
        "Bad Header": "x",
        "X-Injected": "a\r\nX-Evil: 1",
        "X-Custom-Header": "value",
    }
    headers = build(fmt, custom_headers=attempts).headers
    lowered = {name.lower(): value for name, value in headers.items()}
    assert len(lowered) == len(headers)  # no name twice in different cases
    for name, value in genuine.items():
        assert lowered[name.lower()] == value
    extra = {name for name in lowered if name not in {n.lower() for n in genuine}}
    assert extra == {"x-custom-header"}
    assert headers["X-Custom-Header"] == "value"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Planwire-Delivery": "x"}, "set by Planwire"),
        ({"x-exepron-signature": "x"}, "set by Planwire"),
        ({"Keep-Alive": "x"}, "set by Planwire"),
        ({"Proxy-Authorization": "x"}, "set by Planwire"),
        ({"Bad Header": "x"}, "not a valid header name"),
        ({"X-A": "line\nbreak"}, "line breaks"),
        ({"X-A": "1", "x-a": "2"}, "more than once"),
        ({"X-A": "v" * 9000}, "too long"),
    ],
)
def test_custom_header_validation(headers: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_custom_headers(headers)


def test_valid_custom_headers_pass_validation() -> None:
    validate_custom_headers({"X-Custom-Header": "value", "Authorization": "Bearer abc"})


def test_reserved_headers_are_lowercase() -> None:
    assert all(name == name.lower() for name in RESERVED_HEADERS)


# --- secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
def test_generated_secrets_are_valid_and_distinct(fmt: str) -> None:
    first, second = generate_secret(fmt), generate_secret(fmt)
    validate_secret(fmt, first)
    assert first != second


def test_generated_secret_shapes() -> None:
    standard = generate_secret("standard")
    assert standard.startswith("whsec_") and len(standard) == len("whsec_") + 32
    assert len(generate_secret("trueppm")) == 32


@pytest.mark.parametrize(
    ("fmt", "secret", "message"),
    [
        ("standard", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("standard", "whsec_not base64!", "base64"),
        ("standard", "whsec_c2hvcnQ=", "24 to 64 bytes"),
        ("trueppm", "short", "8 to 256"),
        ("exepron", " padded-secret ", "spaces"),
        ("exepron", "tab\there-secret", "control"),
    ],
)
def test_bad_secrets_are_refused(fmt: str, secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_secret(fmt, secret)


def test_document_example_secrets_are_accepted() -> None:
    validate_secret("trueppm", "your-shared-secret")
    validate_secret("exepron", "your-webhook-secret-key")
    validate_secret("standard", STANDARD_SECRET)


# --- retries --------------------------------------------------------------------------------------


def response(status: int, retry_after: float | None = None) -> Outcome:
    return Outcome.for_status(status, retry_after=retry_after)


def failure(kind: ErrorKind) -> Outcome:
    return Outcome.for_error(kind, "test")


OUTCOMES: dict[str, Outcome] = {
    "200": response(200),
    "204": response(204),
    "301": response(301),
    "302": response(302),
    "400": response(400),
    "401": response(401),
    "404": response(404),
    "408": response(408),
    "409": response(409),
    "410": response(410),
    "425": response(425),
    "429": response(429),
    "500": response(500),
    "502": response(502),
    "503": response(503),
    "timeout": failure("timeout"),
    "connect": failure("connect"),
    "dns": failure("dns"),
    "tls": failure("tls"),
    "reset": failure("reset"),
    "refused_target": failure("refused_target"),
}
NETWORK = {"timeout", "connect", "dns", "tls", "reset"}
RETRIED: dict[str, set[str]] = {
    "trueppm": {"301", "302", "400", "401", "404", "408", "409", "410", "425", "429"}
    | {"500", "502", "503"}
    | NETWORK,
    "exepron": {"500", "502", "503"} | NETWORK,
    "standard": {"301", "302", "408", "409", "425", "429", "500", "502", "503"} | NETWORK,
}


@pytest.mark.parametrize("fmt", ["trueppm", "exepron", "standard"])
@pytest.mark.parametrize("case", list(OUTCOMES))
def test_retry_classification(fmt: str, case: str) -> None:
    outcome = OUTCOMES[case]
    retried = case in RETRIED[fmt]
    if outcome.succeeded:
        assert not retried
    else:
        assert retry_policy(fmt).retry_on(outcome) is retried
    delay = plan_retry(fmt, None, 1, outcome, rng=random.Random(1))
    assert (delay is not None) is retried


def test_default_schedules() -> None:
    assert RETRY_POLICIES[WireFormat.TRUEPPM].default_schedule == (10, 60, 300)
    assert RETRY_POLICIES[WireFormat.EXEPRON].default_schedule == (10, 60, 300, 1800, 7200)
    standard = RETRY_POLICIES[WireFormat.STANDARD]
    assert standard.default_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert standard.jitter == 0.2


@pytest.mark.parametrize("fmt", ["trueppm", "exepron"])
def test_hex_formats_follow_their_schedule_exactly(fmt: str) -> None:
    policy = retry_policy(fmt)
    delays = [next_delay(policy, None, n, None) for n in range(1, 8)]
    schedule = list(policy.default_schedule)
    assert delays == schedule + [None] * (7 - len(schedule))


def test_standard_schedule_is_jittered_within_bounds() -> None:
    policy = retry_policy("standard")
    rng = random.Random(7)
    for attempt, base in enumerate(policy.default_schedule, start=1):
        delays = {next_delay(policy, None, attempt, None, rng=rng) for _ in range(50)}
        assert all(d is not None and base * 0.8 <= d <= base * 1.2 for d in delays)
        assert len(delays) > 1
    assert next_delay(policy, None, len(policy.default_schedule) + 1, None) is None


def test_override_schedule_is_used_exactly() -> None:
    policy = retry_policy("standard")
    assert next_delay(policy, [0.5, 2], 1, None) == 0.5
    assert next_delay(policy, [0.5, 2], 2, None) == 2
    assert next_delay(policy, [0.5, 2], 3, None) is None
    assert next_delay(policy, [], 1, None) is None


def test_retry_after_postpones_but_never_advances_and_is_capped() -> None:
    policy = retry_policy("trueppm")
    assert next_delay(policy, None, 1, 120) == 120  # later than the scheduled 10 s
    assert next_delay(policy, None, 2, 5) == 60  # never earlier than scheduled
    assert next_delay(policy, None, 1, 86400) == 10 + RETRY_AFTER_MAX_EXTRA
    assert next_delay(policy, None, 4, 120) is None  # no retry left: Retry-After changes nothing


def test_plan_retry_uses_the_outcome_retry_after() -> None:
    assert plan_retry("standard", [1, 1], 1, response(429, retry_after=30)) == 30
    assert plan_retry("exepron", None, 1, response(503, retry_after=30)) == 30
    assert plan_retry("exepron", None, 1, response(429, retry_after=30)) is None  # 4xx: final


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        next_delay(retry_policy("trueppm"), None, 0, None)


def test_retry_schedule_validation() -> None:
    assert validate_retry_schedule([1, 2.5, 0]) == (1.0, 2.5, 0.0)
    assert validate_retry_schedule([]) == ()
    for bad in ([-1], [MAX_RETRY_DELAY + 1], [float("nan")], [True], ["10"], [1] * 26):
        with pytest.raises(ValueError):
            validate_retry_schedule(bad)  # type: ignore[arg-type]
