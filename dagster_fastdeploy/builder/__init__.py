"""Build a Dagster project into `deps-<sha256>.pex`, `source-<sha256>.pex` and `manifest.json`.

The CLI (`dagster-fastdeploy build`), the hatch plugin and the PEP 517 backend are thin fronts
over `build_project` (pipeline.py); `build_locations` builds every location of a
dagster_cloud.yaml. One module per step: requirements.py collects what the
project declares, lock.py resolves it, deps.py / deps_pex.py build deps.pex, source.py writes
source.pex, check.py loads the definitions in the built environment.
"""

from dagster_fastdeploy.builder.locations import build_locations
from dagster_fastdeploy.builder.pipeline import (
    BuildResult,
    build_project,
    deps_index_entry,
    deps_input_hash,
)

__all__ = ["BuildResult", "build_locations", "build_project", "deps_index_entry", "deps_input_hash"]
