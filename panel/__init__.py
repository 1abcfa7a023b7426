"""Flowdeck panel: a Textual control panel attached to an engine's control socket."""
