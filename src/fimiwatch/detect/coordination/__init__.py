"""Coordinated-behaviour detection: co-action views, windowed account pairs, groups."""
