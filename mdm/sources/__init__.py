"""Source systems and the records they send, with every version kept."""
