"""Backfill: registering frames the backfill job aligned on its own, and looking up known photos."""
