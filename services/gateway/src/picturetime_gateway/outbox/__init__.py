"""Picture Time gateway: outbox."""
