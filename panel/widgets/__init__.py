"""Reusable widgets of the panel, one per module, each with its CSS next to it."""
