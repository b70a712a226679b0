"""Picture Time gateway: auth."""
