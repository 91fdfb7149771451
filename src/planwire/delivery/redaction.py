"""What of a delivery's request headers may be stored and shown: no signature, no credential."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

REDACTED = "<redacted>"
#: The signature headers of every format, and custom headers whose name says they carry a
#: credential, are stored and shown as ``<redacted>``.
_SENSITIVE_HEADER = re.compile(
    r"signature|authorization|cookie|token|secret|password|passwd|api[-_]?key|auth",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def _sensitive(name: str) -> bool:
    # Cached: every attempt stores its headers, and their names repeat.
    return _SENSITIVE_HEADER.search(name) is not None


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` as they are stored with an attempt: signatures and credentials redacted."""
    return {name: REDACTED if _sensitive(name) else value for name, value in headers.items()}
