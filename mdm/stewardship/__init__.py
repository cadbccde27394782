"""Stewardship: the review queue and the actions stewards take on golden records."""
