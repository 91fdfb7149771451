"""Verify Planwire webhook deliveries on the receiving side.

Each function takes the **raw request body bytes**, exactly as received (not a parsed and
re-serialized body), the secret shown when the webhook was created, and the signature header(s);
it returns True or False, compares in constant time, and never raises on malformed input.

Flask, TruePPM format::

    from planwire.verify import verify_trueppm

    @app.post("/hooks/planwire")
    def hook():
        signature = request.headers.get("X-TruePPM-Signature", "")
        if not verify_trueppm(SECRET, request.get_data(), signature):
            abort(401)
        event = request.get_json()
        ...

Exepron format: ``verify_exepron(SECRET, body, request.headers.get("X-Exepron-Signature", ""))``.

Standard Webhooks format: ``verify_standard(SECRET, body, request.headers)`` checks the
``webhook-signature`` (any of its space-separated ``v1,`` signatures: during a secret rotation
there is one per secret) and that ``webhook-timestamp`` is within ``tolerance_seconds`` of now,
which bounds replays.

Deliveries are at least once and in no guaranteed order: use the ``X-Planwire-Delivery`` header
(the same on every retry) to skip duplicates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

__all__ = ["verify_exepron", "verify_standard", "verify_trueppm"]


def _hmac_hex(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")


def _header_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value.strip()
    if not isinstance(value, str):
        return None
    try:
        return value.strip().encode("ascii")
    except UnicodeEncodeError:
        return None


def _inputs_ok(secret: object, body: object) -> bool:
    return isinstance(secret, str) and bool(secret) and isinstance(body, bytes | bytearray)


def verify_trueppm(secret: str, body: bytes, signature_header: str) -> bool:
    """Whether ``X-TruePPM-Signature`` (``sha256=<hex>``) is the HMAC-SHA256 of ``body``."""
    header = _header_bytes(signature_header)
    if header is None or not _inputs_ok(secret, body):
        return False
    return hmac.compare_digest(b"sha256=" + _hmac_hex(secret, bytes(body)), header.lower())


def verify_exepron(secret: str, body: bytes, signature_header: str) -> bool:
    """Whether ``X-Exepron-Signature`` (``<hex>``) is the HMAC-SHA256 of ``body``."""
    header = _header_bytes(signature_header)
    if header is None or not _inputs_ok(secret, body):
        return False
    return hmac.compare_digest(_hmac_hex(secret, bytes(body)), header.lower())


def verify_standard(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    tolerance_seconds: float = 300,
    *,
    now: datetime | None = None,
) -> bool:
    """Whether the Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``; any letter case) sign ``body`` with ``secret`` (``whsec_...``) and
    the timestamp is within ``tolerance_seconds`` of ``now`` (default: the current time)."""
    if not _inputs_ok(secret, body):
        return False
    try:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        message_id = lowered.get("webhook-id")
        timestamp_text = lowered.get("webhook-timestamp")
        signatures = lowered.get("webhook-signature")
        if not (
            isinstance(message_id, str)
            and isinstance(timestamp_text, str)
            and isinstance(signatures, str)
        ):
            return False
        timestamp_text = timestamp_text.strip()
        if not (timestamp_text.isascii() and timestamp_text.isdigit()):
            return False
        current = (now or datetime.now(UTC)).timestamp()
        if not math.isfinite(tolerance_seconds):
            return False
        if abs(current - int(timestamp_text)) > tolerance_seconds:
            return False
        signed_at = datetime.fromtimestamp(int(timestamp_text), UTC)
        expected_text = Webhook(secret).sign(message_id, signed_at, bytes(body).decode("utf-8"))
        expected = base64.b64decode(expected_text.partition(",")[2])
    except (
        ValueError,
        TypeError,
        OverflowError,
        OSError,
        binascii.Error,
        AttributeError,
        EmptyWebhookSecretError,
    ):
        return False
    found = False
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Check every candidate (no early exit) so the time taken does not depend on which one
        # matched.
        found |= hmac.compare_digest(expected, given)
    return found
