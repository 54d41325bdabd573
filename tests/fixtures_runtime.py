"""Session fixtures for the runtime tests."""
