"""The reconciled customer hierarchy between golden records (edges, claims, steward tasks).

The graph rules live in the pure `hierarchy` library; this package stores the edges with
effective dates, derives them from the sources' parent references, and serves them.
"""
