"""Internal collectors: each reads one source and writes usage events through the metering
services (counters for monotonic sources, plain events for gauges). A source that cannot be read
opens a collector gap (audited, operators alerted) instead of writing a zero."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CollectionReport:
    collector: str
    instances: int = 0
    events: int = 0
    gaps: list[str] = field(default_factory=list)
    seconds: float = 0.0
