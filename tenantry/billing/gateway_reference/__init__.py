"""The reference Mobile Money gateway (development and tests only)."""
