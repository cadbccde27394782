"""Ingestion: reading source files and batches, mapping, validating, and idempotent upserts."""
