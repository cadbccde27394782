"""Golden records: survivorship, cross-reference, merges and redirects."""
