"""planwire.verify: the receiver-side helpers accept our deliveries and nothing else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planwire.delivery.formats import OutgoingRequest, build_request, generate_secret
from planwire.verify import verify_exepron, verify_standard, verify_trueppm

HEX_SECRET = "your-webhook-secret-key"
STANDARD_SECRET = generate_secret("standard")


def build(fmt: str, secrets: list[str], signed_at: datetime | None = None) -> OutgoingRequest:
    return build_request(
        fmt,
        delivery_id=uuid.uuid4(),
        event_type="task.red",
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        account_id=1,
        project_id=uuid.uuid4(),
        webhook_public_id="wh_1",
        data={"taskName": "Backend ✓", "bufferConsumption": 92.5},
        retry_count=0,
        secrets=secrets,
        custom_headers={},
        user_agent="Planwire/test",
        signed_at=signed_at,
    )


def test_trueppm() -> None:
    outgoing = build("trueppm", [HEX_SECRET])
    signature = outgoing.headers["X-TruePPM-Signature"]
    assert verify_trueppm(HEX_SECRET, outgoing.body, signature)
    assert verify_trueppm(HEX_SECRET, outgoing.body, f"  {signature.upper()} ")
    assert not verify_trueppm("another-secret", outgoing.body, signature)
    assert not verify_trueppm(HEX_SECRET, outgoing.body + b"\n", signature)
    assert not verify_trueppm(HEX_SECRET, outgoing.body, signature.removeprefix("sha256="))


def test_exepron() -> None:
    outgoing = build("exepron", [HEX_SECRET])
    signature = outgoing.headers["X-Exepron-Signature"]
    assert verify_exepron(HEX_SECRET, outgoing.body, signature)
    assert not verify_exepron("another-secret", outgoing.body, signature)
    assert not verify_exepron(HEX_SECRET, outgoing.body.replace(b"92.5", b"92.6"), signature)
    assert not verify_exepron(HEX_SECRET, outgoing.body, "sha256=" + signature)


def test_standard_with_any_header_case() -> None:
    outgoing = build("standard", [STANDARD_SECRET])
    assert verify_standard(STANDARD_SECRET, outgoing.body, outgoing.headers)
    upper = {name.upper(): value for name, value in outgoing.headers.items()}
    assert verify_standard(STANDARD_SECRET, outgoing.body, upper)
    assert not verify_standard(generate_secret("standard"), outgoing.body, outgoing.headers)
    assert not verify_standard(STANDARD_SECRET, outgoing.body + b" ", outgoing.headers)


def test_standard_accepts_each_secret_of_a_rotation() -> None:
    old, new = STANDARD_SECRET, generate_secret("standard")
    outgoing = build("standard", [new, old])
    assert verify_standard(old, outgoing.body, outgoing.headers)
    assert verify_standard(new, outgoing.body, outgoing.headers)


def test_standard_tolerance() -> None:
    signed_at = datetime.now(UTC) - timedelta(minutes=10)
    outgoing = build("standard", [STANDARD_SECRET], signed_at=signed_at)
    assert not verify_standard(STANDARD_SECRET, outgoing.body, outgoing.headers)
    assert verify_standard(STANDARD_SECRET, outgoing.body, outgoing.headers, 900)
    assert verify_standard(
        STANDARD_SECRET, outgoing.body, outgoing.headers, now=signed_at + timedelta(seconds=299)
    )
    assert not verify_standard(
        STANDARD_SECRET, outgoing.body, outgoing.headers, now=signed_at - timedelta(seconds=301)
    )


def test_standard_ignores_unknown_versions_and_junk_signatures() -> None:
    outgoing = build("standard", [STANDARD_SECRET])
    genuine = outgoing.headers["webhook-signature"]
    headers = dict(outgoing.headers, **{"webhook-signature": f"v2,abc v1,!!! junk {genuine}"})
    assert verify_standard(STANDARD_SECRET, outgoing.body, headers)
    headers["webhook-signature"] = genuine.replace("v1,", "v2,")
    assert not verify_standard(STANDARD_SECRET, outgoing.body, headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "x", "webhook-timestamp": "now", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "x", "webhook-timestamp": "1e9", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "x", "webhook-timestamp": "9" * 40, "webhook-signature": "v1,AAAA"},
        {"webhook-id": "x", "webhook-timestamp": "-5", "webhook-signature": "v1,AAAA"},
        {"webhook-id": None, "webhook-timestamp": None, "webhook-signature": None},
    ],
)
def test_standard_garbage_headers_are_false(headers: dict[str, Any]) -> None:
    assert not verify_standard(STANDARD_SECRET, b"{}", headers)


@pytest.mark.parametrize(
    "secret", ["", "whsec_", "whsec_!!!", "not-base64-at-all", None, 42, "whsec_" + "A" * 3]
)
def test_bad_secrets_are_false_not_errors(secret: Any) -> None:
    outgoing = build("standard", [STANDARD_SECRET])
    assert not verify_standard(secret, outgoing.body, outgoing.headers)
    assert not verify_trueppm(secret, outgoing.body, "sha256=00")
    assert not verify_exepron(secret, outgoing.body, "00")


@settings(max_examples=200, deadline=None)
@given(
    secret=st.one_of(st.text(max_size=40), st.none(), st.binary(max_size=10)),
    body=st.one_of(st.binary(max_size=200), st.text(max_size=20), st.none()),
    signature=st.one_of(st.text(max_size=80), st.binary(max_size=80), st.none(), st.integers()),
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "Webhook-Timestamp", "webhook-signature", "x"]),
        st.one_of(st.text(max_size=60), st.none(), st.integers()),
    ),
)
def test_garbage_never_raises(secret: Any, body: Any, signature: Any, headers: Any) -> None:
    assert verify_trueppm(secret, body, signature) in (True, False)
    assert verify_exepron(secret, body, signature) in (True, False)
    assert verify_standard(secret, body, headers) in (True, False)
