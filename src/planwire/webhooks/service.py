"""Webhook registrations for both surfaces: create, change, pause and resume, delete, test
deliveries, manual redelivery and the delivery records.

Services never commit (the request's unit of work does) and refuse bad input before writing
anything, so a refused request leaves nothing behind.

Secrets are write-only. They are stored as a :class:`~planwire.secrets_store.SecretBox` token of
the list of valid secrets, current first, and never leave this module except once, in the
response that created them (or the generated one).

Secret rotation (a new ``secret`` on PATCH/PUT): for the ``standard`` format the previous secret
stays valid for :data:`ROTATION_GRACE` (24 h): deliveries carry one ``v1,`` signature per valid
secret, so receivers can switch over at their own pace. The grace period is measured from when
the token was sealed (Fernet tokens carry their creation time, and the token is re-sealed only
when the secrets change): :func:`signing_secrets` drops the previous secret once it has passed.
A second rotation within the period keeps only the secret it replaces. The ``trueppm`` and
``exepron`` formats carry a single signature header, so a new secret replaces the old one at
once.
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from planwire.config import Settings
from planwire.db import new_id, utcnow
from planwire.delivery.formats import WireFormat, generate_secret, validate_secret
from planwire.delivery.redaction import REDACTED, redact_headers
from planwire.delivery.ssrf import TargetPolicy, TargetRefused, check_url, host_address
from planwire.errors import Conflict, NotFound, Unprocessable
from planwire.events.models import Event
from planwire.secrets_store import SecretBox, load_key
from planwire.webhooks import fanout
from planwire.webhooks.catalog import example_data
from planwire.webhooks.models import Delivery, DeliveryAttempt, Webhook

ROTATION_GRACE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """What the service needs from the settings: the SSRF policy and the secrets key."""

    policy: TargetPolicy
    key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        policy = TargetPolicy(
            allow_private=settings.allow_private_targets,
            allowed_networks=tuple(
                ipaddress.ip_network(net, strict=False) for net in settings.allowed_target_networks
            ),
            https_only=settings.https_only_targets,
        )
        return cls(policy=policy, key=load_key(settings))

    @property
    def box(self) -> SecretBox:
        return SecretBox(self.key)


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", errors=[{"field": field, "message": message}])


# --- checks --------------------------------------------------------------------------------------


def check_target(url: str, policy: TargetPolicy) -> None:
    """Refuse (422, naming the reason) a URL the SSRF policy refuses.

    A host name that does not resolve now is accepted: the worker checks every address it
    connects to at delivery time anyway, and a receiver's DNS may not exist yet at
    registration. A name that resolves to a refused address is refused.
    """
    try:
        check_url(url, policy, resolve=False)
        host = urlsplit(url).hostname or ""
        if host_address(host) is None and _resolves(host):
            check_url(url, policy)
    except TargetRefused as exc:
        raise _invalid("url", exc.reason) from None


def _resolves(host: str) -> bool:
    try:
        return bool(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM))
    except (OSError, UnicodeError):
        return False


def _check_secret(fmt: str, secret: str) -> None:
    try:
        validate_secret(fmt, secret)
    except ValueError as exc:
        raise _invalid("secret", str(exc)) from None


# --- secrets -------------------------------------------------------------------------------------


def signing_secrets(webhook: Webhook, key: bytes, now: datetime | None = None) -> list[str]:
    """The secrets deliveries of ``webhook`` are signed with now: the current one, and the
    previous one during the grace period of a ``standard`` rotation."""
    secrets = SecretBox(key).open(webhook.secrets_ciphertext)
    if len(secrets) > 1:
        sealed_at = Fernet(key).extract_timestamp(webhook.secrets_ciphertext.encode())
        moment = now or utcnow()
        if moment - datetime.fromtimestamp(sealed_at, UTC) >= ROTATION_GRACE:
            return secrets[:1]
    return secrets


def _rotate(webhook: Webhook, config: WebhookConfig, new_format: str, secret: str) -> None:
    current = signing_secrets(webhook, config.key)[0]
    if secret == current:
        return
    keep_previous = new_format == WireFormat.STANDARD and webhook.format == WireFormat.STANDARD
    webhook.secrets_ciphertext = config.box.seal([secret, current] if keep_previous else [secret])


# --- registrations -------------------------------------------------------------------------------


def create_webhook(
    session: Session,
    *,
    config: WebhookConfig,
    organization_id: int,
    project_id: uuid.UUID | None,
    created_by_id: uuid.UUID | None,
    fields: Mapping[str, Any],
) -> tuple[Webhook, str]:
    """Register a webhook; returns it and its secret (the one given, or a generated one)."""
    fmt = str(fields["format"])
    check_target(fields["url"], config.policy)
    secret = fields.get("secret")
    if secret is None:
        secret = generate_secret(fmt)
    else:
        _check_secret(fmt, secret)
    now = utcnow()
    webhook = Webhook(
        id=new_id(),
        organization_id=organization_id,
        project_id=project_id,
        name=fields.get("name", ""),
        url=fields["url"],
        events=list(fields.get("events") or []),
        format=fmt,
        secrets_ciphertext=config.box.seal([secret]),
        retry_schedule=fields.get("retry_schedule"),
        headers=dict(fields.get("headers") or {}),
        is_active=fields.get("is_active", True),
        created_by_id=created_by_id,
        created_at=now,
        updated_at=now,
        total_calls=0,
        successful_calls=0,
        failed_calls=0,
    )
    session.add(webhook)
    session.flush()
    return webhook, secret


def update_webhook(
    session: Session, *, config: WebhookConfig, webhook: Webhook, changes: Mapping[str, Any]
) -> None:
    """Apply the given fields (PATCH, and the account surface's partial PUT).

    ``is_active: true`` also re-enables an endpoint that was disabled automatically. A format
    change without a new secret keeps the current secret if it can sign the new format.
    """
    new_format = str(changes.get("format") or webhook.format)
    if "url" in changes:
        check_target(changes["url"], config.policy)
    secret = changes.get("secret")
    if secret is not None:
        _check_secret(new_format, secret)
    elif new_format != webhook.format:
        current = config.box.open(webhook.secrets_ciphertext)[0]
        try:
            validate_secret(new_format, current)
        except ValueError as exc:
            raise _invalid(
                "secret",
                f"the current secret cannot sign {new_format} deliveries ({exc}); send a new "
                "secret with the format change",
            ) from None
        if webhook.format == WireFormat.STANDARD:  # no rotation outside standard
            webhook.secrets_ciphertext = config.box.seal([current])

    if secret is not None:
        _rotate(webhook, config, new_format, secret)
    for name in ("name", "url", "events", "retry_schedule"):
        if name in changes:
            setattr(webhook, name, changes[name])
    if "headers" in changes:
        webhook.headers = _merge_redacted(webhook.headers, changes["headers"])
    webhook.format = new_format
    if "is_active" in changes:
        set_active(session, webhook, active=bool(changes["is_active"]))
    webhook.updated_at = utcnow()
    session.flush()


def _merge_redacted(stored: Mapping[str, str], given: Mapping[str, str]) -> dict[str, str]:
    """Headers as given, where a value sent back as shown (``<redacted>``) keeps the stored one."""
    by_name = {name.lower(): value for name, value in stored.items()}
    return {
        name: by_name.get(name.lower(), value) if value == REDACTED else value
        for name, value in given.items()
    }


def set_active(session: Session, webhook: Webhook, *, active: bool) -> None:
    """Pause, or resume: resuming also clears an automatic disable and its failure streak, and
    wakes the workers so the retries that waited go out at once."""
    webhook.is_active = active
    if active:
        webhook.disabled_at = None
        webhook.disabled_reason = None
        webhook.failing_since = None
        fanout.announce_deliveries(session)
    webhook.updated_at = utcnow()


def delete_webhook(session: Session, *, webhook: Webhook) -> None:
    """Delete the registration with its deliveries and their attempts."""
    delivery_ids = select(Delivery.id).where(Delivery.webhook_id == webhook.id)
    session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(delivery_ids)))
    session.execute(delete(Delivery).where(Delivery.webhook_id == webhook.id))
    session.delete(webhook)
    session.flush()


def project_webhook(
    session: Session, project_id: uuid.UUID, webhook_id: uuid.UUID, *, lock: bool = False
) -> Webhook:
    """The webhook of the project; ``lock`` serialises concurrent changes (PostgreSQL)."""
    query = select(Webhook).where(Webhook.id == webhook_id, Webhook.project_id == project_id)
    webhook = session.scalar(query.with_for_update() if lock else query)
    if webhook is None:
        raise NotFound(f"Webhook {webhook_id} not found.")
    return webhook


def account_webhook(
    session: Session, organization_id: int, webhook_id: str, *, lock: bool = False
) -> Webhook:
    """An account webhook (no project) of the organization, by its id as the API shows it."""
    try:
        parsed = uuid.UUID(webhook_id)
    except ValueError:
        raise NotFound(f"Webhook {webhook_id} not found.") from None
    query = select(Webhook).where(
        Webhook.id == parsed,
        Webhook.organization_id == organization_id,
        Webhook.project_id.is_(None),
    )
    webhook = session.scalar(query.with_for_update() if lock else query)
    if webhook is None:
        raise NotFound(f"Webhook {webhook_id} not found.")
    return webhook


def shown_headers(webhook: Webhook) -> dict[str, str]:
    """Custom headers as the API shows them: credentials (by their name) redacted."""
    return redact_headers(webhook.headers or {})


# --- test deliveries and redelivery --------------------------------------------------------------


def send_test(
    session: Session, *, webhook: Webhook, event_type: str, data: dict[str, Any] | None
) -> tuple[Delivery, Event]:
    """Record a real event of ``event_type`` and one test delivery of it to ``webhook`` only.

    It goes through the normal pipeline (the worker sends it, the logs and statistics show it).
    ``data`` defaults to the catalog's example. A paused or disabled webhook is refused: the
    delivery would wait until it is resumed.
    """
    if not webhook.is_active or webhook.disabled_at is not None:
        raise Conflict(f"Webhook {webhook.id} is paused; resume it before sending a test delivery.")
    project_id = str(webhook.project_id) if webhook.project_id is not None else None
    now = utcnow()
    event = Event(
        id=new_id(),
        organization_id=webhook.organization_id,
        project_id=webhook.project_id,
        type=event_type,
        data=data if data is not None else example_data(event_type, project_id=project_id),
        created_at=now,
    )
    session.add(event)
    session.flush()
    delivery = Delivery(
        id=new_id(),
        webhook_id=webhook.id,
        event_id=event.id,
        status="pending",
        attempt_count=0,
        next_attempt_at=now,
        is_test=True,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    session.flush()
    fanout.announce_deliveries(session)
    return delivery, event


def redeliver(session: Session, *, webhook: Webhook, delivery_id: uuid.UUID) -> Delivery:
    """Send a failed delivery again: back to pending, due now, with the same id (so
    ``X-Planwire-Delivery`` stays the receiver's idempotency key). Its attempts stay in the
    record; the new attempt is numbered after them, and as the retry schedule is used up, a
    manual redelivery is one attempt. A paused webhook's redelivery waits until it resumes."""
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id, Delivery.webhook_id == webhook.id)
        .with_for_update()
    )
    if delivery is None:
        raise NotFound(f"Delivery {delivery_id} not found.")
    if delivery.status != "failed":
        raise Conflict(
            f"Delivery {delivery_id} is {delivery.status}: only a failed delivery can be "
            "redelivered."
        )
    now = utcnow()
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.completed_at = None
    delivery.response_status = None  # the failed outcome stays in the attempts
    delivery.last_error = None
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    delivery.updated_at = now
    session.flush()
    fanout.announce_deliveries(session)
    return delivery


# --- delivery records ----------------------------------------------------------------------------


def event_types_of(session: Session, deliveries: Sequence[Delivery]) -> dict[uuid.UUID, str]:
    ids = {d.event_id for d in deliveries}
    if not ids:
        return {}
    rows = session.execute(select(Event.id, Event.type).where(Event.id.in_(ids))).all()
    return {row.id: row.type for row in rows}


def attempts_of(
    session: Session, deliveries: Sequence[Delivery]
) -> dict[uuid.UUID, list[DeliveryAttempt]]:
    """The attempts of each delivery, in order."""
    result: dict[uuid.UUID, list[DeliveryAttempt]] = {d.id: [] for d in deliveries}
    if not result:
        return result
    attempts = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(result))
        .order_by(DeliveryAttempt.attempt_number, DeliveryAttempt.id)
    ).all()
    for attempt in attempts:
        result[attempt.delivery_id].append(attempt)
    return result


def deliveries_query(webhook: Webhook, status: str | None = None) -> Select[Delivery]:
    """Deliveries of ``webhook``, newest first."""
    query = select(Delivery).where(Delivery.webhook_id == webhook.id)
    if status is not None:
        query = query.where(Delivery.status == status)
    return query.order_by(Delivery.created_at.desc(), Delivery.id.desc())
