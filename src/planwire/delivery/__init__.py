"""Webhook delivery: wire formats, signing, the SSRF guard and the HTTP sender seam.

Public surface (everything else is private to its module):

* :mod:`~planwire.delivery.formats`: :func:`build_request` makes the body and headers of an
  attempt for one of the three :class:`WireFormat` values; :data:`RETRY_POLICIES`,
  :func:`next_delay`, :func:`plan_retry` say when to try again; secrets and custom headers are
  generated and validated there.
* :mod:`~planwire.delivery.sender`: :class:`Sender` (the seam), :class:`HttpSender` (aiohttp),
  :class:`MockSender` (tests), :class:`Outcome`.
* :mod:`~planwire.delivery.ssrf`: :class:`TargetPolicy`, :func:`check_url`,
  :func:`check_url_async`, :class:`TargetRefused`.
* :mod:`~planwire.delivery.jsonjs`: :func:`~planwire.delivery.jsonjs.dumps`, JSON that
  JavaScript re-serializes to the same bytes.

The worker that schedules attempts lives beside these modules and uses only this surface.
"""

from planwire.delivery.formats import (
    RETRY_POLICIES,
    OutgoingRequest,
    RetryPolicy,
    WireFormat,
    build_request,
    generate_secret,
    next_delay,
    plan_retry,
    retry_policy,
    validate_custom_headers,
    validate_retry_schedule,
    validate_secret,
)
from planwire.delivery.sender import HttpSender, MockSender, Outcome, Sender, SentRequest
from planwire.delivery.ssrf import TargetPolicy, TargetRefused, check_url, check_url_async

__all__ = [
    "RETRY_POLICIES",
    "HttpSender",
    "MockSender",
    "Outcome",
    "OutgoingRequest",
    "RetryPolicy",
    "Sender",
    "SentRequest",
    "TargetPolicy",
    "TargetRefused",
    "WireFormat",
    "build_request",
    "check_url",
    "check_url_async",
    "generate_secret",
    "next_delay",
    "plan_retry",
    "retry_policy",
    "validate_custom_headers",
    "validate_retry_schedule",
    "validate_secret",
]
