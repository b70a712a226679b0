"""picturetime-backfill: years of old photos into the catalog, aligned locally in a process pool."""
