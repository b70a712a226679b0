"""Picture Time."""
