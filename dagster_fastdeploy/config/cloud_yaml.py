"""`dagster_cloud.yaml`: the code locations of a repository, as Dagster+ reads them.

Each entry names a location (`location_name`), where its project is (`build.directory`, relative
to the yaml), what to load (`code_source`: `module_name` | `package_name` | `python_file`, plus
`attribute`), the directory to load it from (`working_directory`, relative to the project) and
optionally `container_context` (kept in the manifest) and `executable_path` (ignored: our code
servers run in the location's own environment). The whole file is checked before anything is built;
an error names the file, the location and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_fastdeploy.errors import ConfigError
from dagster_fastdeploy.manifest import CodeTarget

FILE_NAME = "dagster_cloud.yaml"
CODE_SOURCE_KEYS = ("module_name", "package_name", "python_file")


@dataclass
class CloudLocation:
    """One `locations:` entry of a dagster_cloud.yaml, checked."""

    file: Path
    name: str
    directory: Path  # build.directory, resolved
    target: CodeTarget
    container_context: dict[str, Any] | None = None
    executable_path: str | None = None
    one_of: int = 1  # how many locations the file lists
    warnings: list[str] = field(default_factory=list)


def read_cloud_yaml(path: Path) -> list[CloudLocation]:
    """Every location of a dagster_cloud.yaml, checked; a bad file is a ConfigError."""
    import yaml

    raw = path.read_bytes()
    if b"\0" in raw:
        raise ConfigError(
            f"{path} is a binary file, not YAML. Replace it with a text file listing your code "
            "locations (locations: - location_name: ...), or delete it."
        )
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path} is not valid YAML: {e}. Fix the file and run again.") from e
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must be a mapping with a `locations:` list, not {type(data).__name__} "
            f"({str(data)[:60]!r}). See docs/configuration.md."
        )
    entries = data.get("locations")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: `locations` must be a list of code locations.")
    locations = [_location(path, index, entry, len(entries)) for index, entry in enumerate(entries)]
    seen: dict[str, int] = {}
    for index, location in enumerate(locations):
        if location.name in seen:
            raise ConfigError(
                f"{path}: locations {seen[location.name] + 1} and {index + 1} are both named "
                f"{location.name!r} (location_name). Give each location its own name."
            )
        seen[location.name] = index
    return locations


def _location(path: Path, index: int, entry: Any, count: int) -> CloudLocation:
    where = f"{path}: location {index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping (location_name, code_source, build).")
    name = entry.get("location_name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where} has no `location_name`. Name it (location_name: my_location).")
    where = f"{path}: location {name!r}"

    build = entry.get("build") or {}
    if not isinstance(build, dict):
        raise ConfigError(f"{where}: `build` must be a mapping (build: {{directory: ./dir}}).")
    directory_value = build.get("directory", ".")
    if not isinstance(directory_value, str):
        raise ConfigError(f"{where}: `build.directory` must be a path relative to {path.name}.")
    repository = path.parent.resolve()
    directory = (repository / directory_value).resolve()
    if directory != repository and repository not in directory.parents:
        raise ConfigError(
            f"{where}: `build.directory` {directory_value!r} is outside the repository "
            f"({repository}). Use a path inside the directory that holds {path.name}."
        )
    if not directory.is_dir():
        raise ConfigError(
            f"{where}: `build.directory` {directory_value!r} does not exist ({directory}). "
            "Fix the path (it is relative to the yaml file)."
        )

    working_directory = entry.get("working_directory") or "."
    if not isinstance(working_directory, str):
        raise ConfigError(f"{where}: `working_directory` must be a path.")
    target = _code_target(where, entry.get("code_source"), working_directory, directory)

    context = entry.get("container_context")
    if context is not None and not isinstance(context, dict):
        raise ConfigError(f"{where}: `container_context` must be a mapping.")
    executable = entry.get("executable_path")
    warnings = []
    if executable is not None:
        warnings.append(
            f"{where}: `executable_path` ({executable}) is ignored: the code server runs in the "
            "location's own deps.pex environment."
        )
    return CloudLocation(
        file=path,
        name=name,
        directory=directory,
        target=target,
        container_context=context,
        executable_path=str(executable) if executable is not None else None,
        one_of=count,
        warnings=warnings,
    )


def _code_target(where: str, source: Any, working_directory: str, directory: Path) -> CodeTarget:
    keys = " | ".join(CODE_SOURCE_KEYS)
    if not isinstance(source, dict):
        raise ConfigError(
            f"{where} has no `code_source`. Add one ({keys}), e.g.\n"
            "    code_source:\n      module_name: my_project.definitions"
        )
    given = [key for key in CODE_SOURCE_KEYS if source.get(key)]
    if len(given) != 1:
        raise ConfigError(
            f"{where}: `code_source` must name exactly one of {keys} "
            f"({'none' if not given else ', '.join(given)} given)."
        )
    key = given[0]
    value = source[key]
    attribute = source.get("attribute")
    if not isinstance(value, str) or (attribute is not None and not isinstance(attribute, str)):
        raise ConfigError(f"{where}: `code_source.{key}` and `attribute` must be strings.")
    if key == "python_file" and not (directory / working_directory / value).is_file():
        raise ConfigError(
            f"{where}: `code_source.python_file` {value!r} does not exist in "
            f"{directory / working_directory}. Fix the path (it is relative to the location's "
            "working_directory)."
        )
    return CodeTarget(**{key: value}, attribute=attribute, working_directory=str(working_directory))


def entry_for(root: Path, wanted: str | None = None) -> CloudLocation | None:
    """The dagster_cloud.yaml entry describing the project at `root`: from its own yaml (the entry
    named `wanted`, else the one whose build.directory is `root`, else the only one), else from
    the nearest parent's yaml with an entry whose build.directory is `root` (up to the repo).
    """
    own = root / FILE_NAME
    if own.is_file():
        locations = read_cloud_yaml(own)
        named = [loc for loc in locations if wanted and loc.name == wanted]
        here = [loc for loc in locations if loc.directory == root]
        for candidates in (named, here, locations if len(locations) == 1 else []):
            if len(candidates) == 1:
                return candidates[0]
        return None
    for parent in root.parents:
        path = parent / FILE_NAME
        if path.is_file():
            here = [loc for loc in read_cloud_yaml(path) if loc.directory == root]
            if len(here) == 1:
                return here[0]
        if (parent / ".git").exists():
            break
    return None


def target_disagreement(location: CloudLocation, key: str, declared: CodeTarget) -> str | None:
    """What to say when pyproject.toml's `key` names another target than the yaml's code_source."""
    ours = location.target
    if (ours.module_name, ours.package_name, ours.python_file, ours.attribute) == (
        declared.module_name,
        declared.package_name,
        declared.python_file,
        declared.attribute,
    ):
        return None
    source_key = next(k for k in CODE_SOURCE_KEYS if getattr(ours, k))
    return (
        f"{location.file.name} (location {location.name!r}) code_source.{source_key} is "
        f"{ours.describe()!r} but pyproject.toml's {key} is {declared.describe()!r}: using "
        f"{ours.describe()!r}, because dagster_cloud.yaml is what a Dagster+ deploy of this "
        "location loads. Make the two agree to silence this."
    )
