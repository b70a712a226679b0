"""Picture Time gateway: frames."""
