"""Picture Time gateway: uploads."""
