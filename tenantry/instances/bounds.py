"""The numeric bounds an instance's settings must stay in, whoever sets them (API schema, service,
CLI, admin). The upper bounds are far above any plan; they exist so that no input can overflow a
database column or ask Docker for nonsense. What a team may actually use is the plan's business
(tenantry.billing.entitlements)."""

from __future__ import annotations

MIN_MEMORY_MB_PER_SERVICE = 16
MAX_MEMORY_MB = 64 * 1024
MIN_CPUS = 0.05
MAX_CPUS = 32
MIN_PIDS_PER_SERVICE = 16
MAX_PIDS = 100_000
# 30 days: an idle timeout longer than that means "never", which is 0.
MAX_HIBERNATE_AFTER_SECONDS = 30 * 24 * 3600
