"""The hatch builder `fastdeploy`: `hatch build -t fastdeploy` writes deps.pex, source.pex and
manifest.json into the target's directory (dist/ by default). Settings are read from
`[tool.hatch.build.targets.fastdeploy]` or `[tool.dagster-fastdeploy]` by config.load_project;
this class only adapts hatch's call to build_project."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from hatchling.builders.plugin.interface import BuilderInterface


class FastDeployBuilder(BuilderInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "fastdeploy"

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        return {"standard": self.build_standard}

    def build_standard(self, directory: str, **build_data: Any) -> str:
        from dagster_fastdeploy.builder import build_project

        result = build_project(
            Path(self.root), out_dir=Path(directory), progress=self.app.display_debug
        )
        m = result.manifest
        self.app.display_info(f"{m.deps.name} ({'built' if result.deps_built else 'reused'})")
        self.app.display_info(m.source.name)
        return str(result.manifest_path)
