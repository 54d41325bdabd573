"""Errors a user can cause. Each message says what to do next; the CLI prints it without a
traceback and exits non-zero."""

from __future__ import annotations


class FastDeployError(Exception):
    """Base class of every error the CLI reports as a plain message."""

    exit_code = 1


class ConfigError(FastDeployError):
    """The project's configuration is missing or invalid."""


class BuildError(FastDeployError):
    """deps.pex or source.pex could not be built."""


class DefinitionsLoadError(BuildError):
    """The project's definitions do not load; carries the user's traceback."""


class StoreError(FastDeployError):
    """The artifact store cannot be reached or refused an operation."""


class IntegrityError(StoreError):
    """A blob's bytes do not match the digest in its name."""


class InvalidNameError(FastDeployError):
    """A deployment or location name that could escape the store prefix."""


class HostError(FastDeployError):
    """The warm host refused a call, is unreachable, or a rollout failed."""


class DiskFullError(HostError):
    """The host's disk filled up while it materialized an environment."""
