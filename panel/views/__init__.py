"""The panel's views (one tab each); every view repaints from the PanelState on a tick."""
