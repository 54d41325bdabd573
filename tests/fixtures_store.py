"""Session fixtures for the store tests."""
