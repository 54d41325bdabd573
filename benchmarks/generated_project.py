"""A larger Dagster project for the benchmark: 200 assets over 30 modules, each asset depending
on one in the module before it, in a src-layout hatchling project like example_project."""

from __future__ import annotations

from pathlib import Path

MODULES = 30
ASSETS = 200


def write_generated_project(root: Path, name: str = "generated_project") -> Path:
    package = root / "src" / name
    package.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name.replace("_", "-")}"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["dagster", "pandas"]

[tool.hatch.build.targets.wheel]
packages = ["src/{name}"]

[tool.dagster]
module_name = "{name}.definitions"
code_location_name = "{name}"
"""
    )
    (package / "__init__.py").write_text("")
    per_module = [ASSETS // MODULES + (1 if i < ASSETS % MODULES else 0) for i in range(MODULES)]
    previous: list[str] = []
    imports = []
    for m, count in enumerate(per_module):
        names = [f"m{m:02d}_asset_{a:02d}" for a in range(count)]
        lines = ["import dagster as dg", ""]
        for a, asset in enumerate(names):
            upstream = previous[a % len(previous)] if previous else None
            deps = f"deps=[{upstream!r}], " if upstream else ""
            lines += [
                f'@dg.asset({deps}group_name="module_{m:02d}")',
                f"def {asset}() -> int:",
                f"    return {a}",
                "",
            ]
        (package / f"module_{m:02d}.py").write_text("\n".join(lines))
        imports.append(f"from {name} import module_{m:02d}")
        previous = names
    modules = ", ".join(f"module_{m:02d}" for m in range(MODULES))
    (package / "definitions.py").write_text(
        "\n".join(
            [
                "import dagster as dg",
                "",
                *imports,
                "",
                f"defs = dg.Definitions(assets=dg.load_assets_from_modules([{modules}]))",
                "",
            ]
        )
    )
    return root
