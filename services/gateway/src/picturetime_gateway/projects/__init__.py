"""Picture Time gateway: the portfolio projects the admin edits and the archive shows."""
