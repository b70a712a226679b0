"""Picture Time gateway: a Piwigo-compatible web service for Darktable."""
