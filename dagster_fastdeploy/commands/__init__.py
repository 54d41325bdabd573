"""One module per group of CLI commands; each command is thin."""
