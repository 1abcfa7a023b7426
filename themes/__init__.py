"""Flowdeck colour themes: TOML files shipped as package data (see panel.themes)."""
