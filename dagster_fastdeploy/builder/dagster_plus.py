"""The Dagster+ target (`build --for dagster-plus`, `[tool.dagster-fastdeploy] for`): artifacts
that Dagster+'s multi-PEX code server runs as it runs its own builder's.

Its builder (dagster-cloud-cli's pex_builder) fixes the target: CPython 3.11 unless told
otherwise, and the complete platform of its `python:3.X-slim` base images, glibc 2.36 (Debian
bookworm), 2.41 from Python 3.13 (trixie). It refuses to finish without dagster and
dagster-cloud in deps.pex: Dagster+ hands its code servers an instance reference whose class
lives in `dagster_cloud.instance`, so without dagster-cloud loading fails with `No module named
'dagster_cloud.instance'`. Our names already follow its conventions: `deps-<sha256>.pex`,
`source-<sha256>.pex`, and the tag `files=` + the sorted file names.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster_fastdeploy.errors import ConfigError

DAGSTER_PLUS = "dagster-plus"
TARGETS = (DAGSTER_PLUS,)
DEFAULT_PYTHON = "3.11"


def default_platform(python: str) -> str:
    """The platform Dagster+'s base image for `python` runs wheels of."""
    minor = int(python.split(".")[1])
    return "manylinux_2_41_x86_64" if minor >= 13 else "manylinux_2_36_x86_64"


def check_target(value: object, key: str) -> str | None:
    if value is None or value in TARGETS:
        return value  # type: ignore[return-value]
    raise ConfigError(f"{key} must be one of {', '.join(TARGETS)}, not {value!r}.")


def check_requirements(project: str, requirement_names: Iterable[str]) -> None:
    """A Dagster+ deps.pex needs dagster-cloud (which brings dagster); say what to add."""
    names = {name.lower().replace("_", "-") for name in requirement_names}
    if "dagster-cloud" not in names:
        missing = "dagster-cloud" if "dagster" in names else "dagster and dagster-cloud"
        raise ConfigError(
            f"A Dagster+ build of {project} needs {missing} in deps.pex: Dagster+ loads its "
            "instance from dagster_cloud.instance in the code server's environment. Add "
            f"{' and '.join(f'{n!r}' for n in missing.split(' and '))} to [project] dependencies "
            '(e.g. "dagster-cloud==<your dagster version>") and build again.'
        )
