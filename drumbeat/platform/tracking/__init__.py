"""Tracking: signed tokens, rewritten links, the event ledger and recipients' hits."""
