"""Match on ingest: standardise, store blocking keys, find candidates, score, link or review."""
