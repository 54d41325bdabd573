"""Session fixtures for the build tests."""
