"""What of a delivery's request headers may be stored and shown: no signature, no credential."""

from __future__ import annotations

import re
from collections.abc import Mapping

REDACTED = "<redacted>"
#: The signature headers of every format, and custom headers whose name says they carry a
#: credential, are stored and shown as ``<redacted>``.
_SENSITIVE_HEADER = re.compile(
    r"signature|authorization|cookie|token|secret|password|passwd|api[-_]?key|auth",
    re.IGNORECASE,
)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` as they are stored with an attempt: signatures and credentials redacted."""
    return {
        name: REDACTED if _SENSITIVE_HEADER.search(name) else value
        for name, value in headers.items()
    }
