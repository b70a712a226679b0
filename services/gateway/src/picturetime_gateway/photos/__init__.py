"""Picture Time gateway: photos."""
