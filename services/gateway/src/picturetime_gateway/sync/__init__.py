"""Picture Time gateway: sync."""
