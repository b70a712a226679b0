"""Picture Time gateway: the admin pages."""
