"""API v1: source records, golden records, cross-reference, change feed, stewardship.

Within v1 changes are additive only (new endpoints, new optional parameters, new response
fields); anything else is v2, served side by side (see docs/api.md).
"""
