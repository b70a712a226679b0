"""Picture Time gateway: albums and tags."""
