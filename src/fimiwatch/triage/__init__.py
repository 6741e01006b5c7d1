"""Triage of single artefacts an analyst is handed: a suspicious email, a professional-network
profile. Each returns a verdict with weighted, explained indicators (DESIGN, "Triage verdicts")."""
