"""Narratives: analysts' definitions matched across languages, recurring ones discovered, and
their daily counts tested for surges."""
