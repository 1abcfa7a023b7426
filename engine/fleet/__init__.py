"""The fleet across hosts, through Redis: scope, heartbeats, commands, overrides, audit."""
