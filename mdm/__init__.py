"""The master data hub: ingest, match and merge, golden records, stewardship and publication."""

__version__ = "0.1.0"
