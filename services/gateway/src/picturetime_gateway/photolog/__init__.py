"""Picture Time gateway: the seed projects' endpoints (Photolog's form upload, Picture Time's status)."""
