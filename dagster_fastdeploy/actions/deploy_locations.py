"""`deploy` at a directory whose dagster_cloud.yaml lists several code locations: every location
(or those `--location` names) read and checked first, then each deployed as its own location,
one after another. Locations with one dependency set share one deps.pex: the first deploy builds
(or finds) and stores it, the others find it in the build cache and the store and send none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster_fastdeploy.actions.deploy import deploy_project
from dagster_fastdeploy.host_api import DeployResult
from dagster_fastdeploy.store.base import Store


def deploy_locations(
    directory: Path, store: Store, locations: Sequence[str] = (), **options: Any
) -> list[DeployResult]:
    """Deploy the locations at `directory`; `options` are deploy_project's (but `location`).
    Without a dagster_cloud.yaml listing locations, one `locations` name names the project's
    location, as `deploy --location` always did."""
    from dagster_fastdeploy.config.locations import load_locations

    projects = load_locations(Path(directory), locations)
    return [
        deploy_project(
            project.root, store, location=project.location_name, config=project, **options
        )
        for project in projects
    ]
