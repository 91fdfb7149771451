"""Process-wide settings for the long-running commands (``planwire serve``, ``planwire worker``).

:func:`tune_gc`: CPython's cyclic garbage collector runs its youngest generation every 700
allocations by default. A delivery worker keeps hundreds of requests in flight, each made of
many short-lived containers (futures, tasks, headers, parser state), so those collections keep
re-walking the live requests: measured on the loopback benchmark, about a fifth of the CPU of
each HTTP request at 256 in flight. Freezing what start-up allocated (modules, the app) and
collecting the young generation every 10,000 allocations removes most of that; reference
counting still frees almost everything at once, the collector only finds cycles later.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Call once start-up is done (imports, app built), before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
