"""State-media laundering: origins from state-affiliated sources reused by other sources."""
