"""Registers the `fastdeploy` hatch builder (entry point `[project.entry-points.hatch]`)."""

from __future__ import annotations

from hatchling.plugin import hookimpl

from dagster_fastdeploy.builder.hatch_builder import FastDeployBuilder


@hookimpl
def hatch_register_builder() -> type[FastDeployBuilder]:
    return FastDeployBuilder
