"""Picture Time gateway: API keys, managed by their owner."""
