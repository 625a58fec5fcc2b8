"""Metering writes: ingestion, counters and gaps, rollups, quota checks."""
