"""Picture Time gateway: ingestion, an upload's path from request to commit (`service.py`)."""
