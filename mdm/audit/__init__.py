"""The audit log: who changed what, when, why, with the state before and after."""
