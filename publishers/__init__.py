"""Publishers: read the hub's outbox and deliver changes to downstream systems."""
