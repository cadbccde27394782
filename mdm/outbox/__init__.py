"""The transactional outbox: every change as an ordered event, in the change's transaction."""
