"""dagster-fastdeploy: ship Dagster code like git does, into a warm code server."""

__version__ = "0.1.0"
