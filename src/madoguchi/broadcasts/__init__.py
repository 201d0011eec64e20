"""Segments (saved selections of contacts), and next the broadcasts and step sequences sent to
them (issue 11)."""
