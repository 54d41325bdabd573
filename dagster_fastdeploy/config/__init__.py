"""One typed view of what a user configures. Everything else reads these, never the files.

- project.py: one project's settings from `[project]`, `[tool.dagster-fastdeploy]` (or the hatch
  target's table), `[tool.dagster]` / `[tool.dg]` and its `dagster_cloud.yaml` entry;
- cloud_yaml.py: `dagster_cloud.yaml` read and checked, every location in it;
- locations.py: the projects a directory stands for (one, or every location of its yaml).
"""

from dagster_fastdeploy.config.project import (
    ProjectConfig,
    check_python_version,
    load_project,
    read_toml,
)

__all__ = ["ProjectConfig", "check_python_version", "load_project", "read_toml"]
