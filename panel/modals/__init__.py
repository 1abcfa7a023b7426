"""Modal screens: confirmation, validated number input, route and provider pickers, help."""
