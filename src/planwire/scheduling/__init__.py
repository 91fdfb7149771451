"""Scheduling: the pure CPM / critical-chain engine and the working-day calendar.

Plain data in, plain data out; nothing here touches the database or the web layer.
"""

from planwire.scheduling.calendar import WorkCalendar
from planwire.scheduling.engine import (
    Buffer,
    BufferBaseline,
    BufferMethod,
    BufferStatus,
    ChainResult,
    CpmResult,
    CycleError,
    LinkType,
    Network,
    TaskProgress,
    Zone,
    baseline_of,
    buffer_status,
    compute_cpm,
    compute_critical_chain,
    find_cycle,
)

__all__ = [
    "Buffer",
    "BufferBaseline",
    "BufferMethod",
    "BufferStatus",
    "ChainResult",
    "CpmResult",
    "CycleError",
    "LinkType",
    "Network",
    "TaskProgress",
    "WorkCalendar",
    "Zone",
    "baseline_of",
    "buffer_status",
    "compute_cpm",
    "compute_critical_chain",
    "find_cycle",
]
