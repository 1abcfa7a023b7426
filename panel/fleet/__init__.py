"""The Fleet view: every live engine of this host, read from their ``stats`` only."""
