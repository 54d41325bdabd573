"""One typed view of a project: `[project]`, `[tool.dagster-fastdeploy]`, `[tool.dagster]`,
`[tool.dg]` and `dagster_cloud.yaml`. Everything else reads a ProjectConfig, never the files.

Each setting is validated where it is read, and an error names the TOML key as written in the
table it came from (`tool.dagster-fastdeploy.<key>` or `tool.hatch.build.targets.fastdeploy.<key>`),
like hatchling does for its build targets.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_fastdeploy.config.cloud_yaml import CloudLocation, entry_for, target_disagreement
from dagster_fastdeploy.errors import ConfigError
from dagster_fastdeploy.manifest import CodeTarget

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

SECTION = "tool.dagster-fastdeploy"
HATCH_SECTION = "tool.hatch.build.targets.fastdeploy"

# [tool.dagster-fastdeploy] keys and what each one holds.
SETTINGS = {
    "location": "the code location name",
    "python": 'the target Python version, "3.12" style',
    "platforms": "target platforms, e.g. ['manylinux_2_28_x86_64']",
    "extras": "optional-dependency groups of [project.optional-dependencies] to include",
    "requirements": "extra requirements files, relative to the project",
    "preload": "modules a standby code server imports ahead of the definitions",
    "for": 'what the artifacts are for: "dagster-plus" (default: a fastdeploy host)',
    "host_group": "the hosts that serve this location (`serve --host-group NAME`)",
    "out_dir": "where build writes its outputs (default dist/fastdeploy)",
    "index_url": "the package index to resolve from",
    "extra_index_urls": "more package indexes",
    "find_links": "local directories or URLs of wheels",
    "exclude": "gitignore-style patterns left out of working_directory/root",
    "include": "files shipped even when git-ignored, e.g. ['.env'] (patterns, relative)",
    "build_sdists": "allow building dependencies from sdists (default true)",
    "memory_limit": 'the most memory the location\'s code server may hold, e.g. "2GiB"',
}
_PY_VERSION = re.compile(r"^3\.\d{1,2}$")
_HOST_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass
class ProjectConfig:
    root: Path
    name: str
    location_name: str
    target: CodeTarget
    python: str
    platforms: list[str]
    pyproject: dict[str, Any] = field(default_factory=dict)
    extras: list[str] = field(default_factory=list)
    requirements_files: list[Path] = field(default_factory=list)
    preload: list[str] = field(default_factory=list)
    host_group: str | None = None
    for_target: str | None = (
        None  # "dagster-plus" (builder/dagster_plus.py), else a fastdeploy host
    )
    out_dir: Path | None = None
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    build_sdists: bool = True
    memory_limit: int | None = None  # bytes; the host's `serve --memory-limit` when None
    container_context: dict[str, Any] | None = None  # dagster_cloud.yaml's, kept in the manifest
    warnings: list[str] = field(default_factory=list)  # said at build time, never fatal
    # pyproject.toml's target when dagster_cloud.yaml's won over it: (its key, the target)
    other_target: tuple[str, CodeTarget] | None = None
    # setting -> its TOML key as written, in the table it came from (for later errors)
    setting_keys: dict[str, str] = field(default_factory=dict)

    def key_of(self, setting: str) -> str:
        """The TOML key a setting was read from, e.g. `tool.dagster-fastdeploy.extras`."""
        return self.setting_keys.get(setting, f"{SECTION}.{setting}")

    @property
    def has_pyproject(self) -> bool:
        return (self.root / "pyproject.toml").is_file()

    @property
    def build_backend(self) -> str | None:
        build_system = self.pyproject.get("build-system") or {}
        backend = build_system.get("build-backend")
        if backend is None and (self.root / "setup.py").is_file():
            return "setuptools.build_meta:__legacy__"
        return backend

    @property
    def declared_dependencies(self) -> list[str]:
        return list((self.pyproject.get("project") or {}).get("dependencies") or [])

    @property
    def optional_dependencies(self) -> dict[str, list[str]]:
        return dict((self.pyproject.get("project") or {}).get("optional-dependencies") or {})

    @property
    def dynamic_dependencies(self) -> bool:
        project = self.pyproject.get("project")
        if project is None:
            return (self.root / "setup.py").is_file()
        return "dependencies" in (project.get("dynamic") or [])

    @property
    def default_out_dir(self) -> Path:
        return self.out_dir or self.root / "dist" / "fastdeploy"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; an invalid file is a ConfigError naming the file and line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}. Fix the file and build again.") from e


def load_project(
    project_dir: Path, location: CloudLocation | None = None, for_target: str | None = None
) -> ProjectConfig:
    """Read a project directory into a ProjectConfig; a bad or missing setting is a ConfigError.

    `location` is the dagster_cloud.yaml entry to build (config_locations.load_locations passes
    it); without it, the entry describing `project_dir` is found (see cloud_yaml.entry_for).
    `for_target` (`--for`) overrides `[tool.dagster-fastdeploy] for`."""
    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory. Pass the directory of a Dagster project.")
    pyproject_path = root / "pyproject.toml"
    has_setup_py = (root / "setup.py").is_file()
    has_requirements = (root / "requirements.txt").is_file()
    if not (pyproject_path.is_file() or has_setup_py or has_requirements):
        raise ConfigError(
            f"{root} has no pyproject.toml, setup.py or requirements.txt, so there is nothing that "
            "says what the project depends on. Run the command in your project's directory or add "
            "a pyproject.toml with [project] dependencies (dagster among them)."
        )
    pyproject = read_toml(pyproject_path) if pyproject_path.is_file() else {}
    tool = pyproject.get("tool") or {}
    settings = _settings(tool)
    cloud = location or entry_for(root, _optional_str(settings, "location"))

    name = (pyproject.get("project") or {}).get("name") or _setup_py_name(root) or root.name
    target, warnings = _code_target(root, cloud, tool, str(name))
    declared = _declared_target(tool)
    for_target, python, platforms = _target_runtime(settings, for_target)
    return ProjectConfig(
        root=root,
        name=str(name),
        location_name=_location_name(settings, cloud, tool, name),
        target=target,
        container_context=cloud.container_context if cloud else None,
        warnings=warnings,
        other_target=declared if cloud and declared and declared[1] != target else None,
        python=python,
        platforms=platforms,
        for_target=for_target,
        pyproject=pyproject,
        extras=_str_list(settings, "extras"),
        requirements_files=[root / p for p in _str_list(settings, "requirements")],
        preload=_str_list(settings, "preload"),
        memory_limit=_memory_limit(settings),
        host_group=_host_group(settings),
        out_dir=_out_dir(settings, root),
        index_url=_optional_str(settings, "index_url"),
        extra_index_urls=_str_list(settings, "extra_index_urls"),
        find_links=_str_list(settings, "find_links"),
        exclude=_str_list(settings, "exclude"),
        include=_str_list(settings, "include"),
        build_sdists=_bool(settings, "build_sdists", True),
        setting_keys=dict(settings.keys),
    )


@dataclass
class _Settings:
    """The merged settings, each with the TOML key it was read from."""

    values: dict[str, Any]
    keys: dict[str, str]

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def key(self, name: str) -> str:
        return self.keys.get(name, f"{SECTION}.{name}")

    def bad(self, name: str, expected: str) -> ConfigError:
        value = self.values.get(name)
        return ConfigError(
            f"`{self.key(name)}` must be {expected} ({SETTINGS[name]}), not {value!r}. "
            "Fix it in pyproject.toml."
        )


def _settings(tool: dict[str, Any]) -> _Settings:
    """Merge [tool.dagster-fastdeploy] over [tool.hatch.build.targets.fastdeploy]."""
    merged = _Settings({}, {})
    hatch = (((tool.get("hatch") or {}).get("build") or {}).get("targets")) or {}
    for section, table in (
        (HATCH_SECTION, hatch.get("fastdeploy") or {}),
        (SECTION, tool.get("dagster-fastdeploy") or {}),
    ):
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] must be a table.")
        for key, value in table.items():
            normalized = key.replace("-", "_")
            if normalized in SETTINGS:
                merged.values[normalized] = value
                merged.keys[normalized] = f"{section}.{key}"
            elif section == SECTION or key not in _hatch_target_keys():
                known = ", ".join(sorted(SETTINGS))
                also = " (and the keys hatch reads for every build target)"
                raise ConfigError(
                    f"Unknown setting `{section}.{key}` in pyproject.toml. Known settings: "
                    f"{known}{also if section == HATCH_SECTION else ''}."
                )
    return merged


def _hatch_target_keys() -> frozenset[str]:
    from dagster_fastdeploy.builder.hatch_keys import hatch_target_keys

    return hatch_target_keys()


def _str_list(settings: _Settings, key: str) -> list[str]:
    value = settings.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise settings.bad(key, "a list of strings")
    return list(value)


def _optional_str(settings: _Settings, key: str) -> str | None:
    value = settings.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise settings.bad(key, "a non-empty string")
    return value


def _bool(settings: _Settings, key: str, default: bool) -> bool:
    value = settings.get(key, default)
    if not isinstance(value, bool):
        raise settings.bad(key, "true or false")
    return value


def _out_dir(settings: _Settings, root: Path) -> Path | None:
    value = _optional_str(settings, "out_dir")
    return root / value if value is not None else None


def _platforms(settings: _Settings) -> list[str]:
    from dagster_fastdeploy.builder.platforms import parse_platform

    platforms = _str_list(settings, "platforms")
    for platform in platforms:
        try:
            parse_platform(platform)
        except ConfigError as e:
            raise ConfigError(f"`{settings.key('platforms')}`: {e}") from None
    return platforms


def check_python_version(value: str, key: str = "--python") -> str:
    if not _PY_VERSION.match(value):
        raise ConfigError(f'{key} must be a Python version like "3.12", not {value!r}.')
    return value


def _target_runtime(
    settings: _Settings, for_target: str | None
) -> tuple[str | None, str, list[str]]:
    """What the artifacts are for, and the Python and platforms that follow from it."""
    from dagster_fastdeploy.builder import dagster_plus

    for_target = dagster_plus.check_target(
        for_target or settings.get("for"), f"`{settings.key('for')}`"
    )
    python = _python(settings)
    platforms = _platforms(settings)
    if for_target == dagster_plus.DAGSTER_PLUS:
        python = python if "python" in settings else dagster_plus.DEFAULT_PYTHON
        platforms = platforms or [dagster_plus.default_platform(python)]
    return for_target, python, platforms


def _host_group(settings: _Settings) -> str | None:
    value = _optional_str(settings, "host_group")
    if value is not None and not _HOST_GROUP.match(value):
        raise settings.bad("host_group", "letters, digits, '_', '-' or '.'")
    return value


def _memory_limit(settings: _Settings) -> int | None:
    if "memory_limit" not in settings:
        return None
    from dagster_fastdeploy.runtime.memory import parse_size

    return parse_size(settings.get("memory_limit"), f"`{settings.key('memory_limit')}`")


def _python(settings: _Settings) -> str:
    value = settings.get("python")
    if value is None:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    if not isinstance(value, str):
        raise settings.bad("python", 'a quoted version like "3.12"')
    return check_python_version(value, f"`{settings.key('python')}`")


def _location_name(
    settings: _Settings, cloud: CloudLocation | None, tool: dict[str, Any], name: str
) -> str:
    dg_project = (tool.get("dg") or {}).get("project") or {}
    # In a file of many locations, the yaml's name is the location's identity.
    many = cloud is not None and cloud.one_of > 1
    for key, candidate in (
        (settings.key("location"), None if many else settings.get("location")),
        ("dagster_cloud.yaml location_name", cloud.name if cloud else None),
        ("tool.dg.project.code_location_name", dg_project.get("code_location_name")),
        ("tool.dagster.code_location_name", (tool.get("dagster") or {}).get("code_location_name")),
        ("project.name", name),
    ):
        if candidate:
            if not isinstance(candidate, str):
                raise ConfigError(f"`{key}` must be a string, not {candidate!r}.")
            return candidate
    raise ConfigError(
        "Could not tell the code location's name; set tool.dagster-fastdeploy.location."
    )


def _code_target(
    root: Path, cloud: CloudLocation | None, tool: dict[str, Any], name: str
) -> tuple[CodeTarget, list[str]]:
    """The location's target, and what to say about it: dagster_cloud.yaml's code_source wins
    over pyproject.toml's (say so when they disagree), which wins over the layout's guess."""
    declared = _declared_target(tool)
    if cloud is None:
        return (declared[1] if declared else _guess_target(root, name)), []
    warnings = list(cloud.warnings)
    if declared is not None:
        note = target_disagreement(cloud, *declared)
        if note:
            warnings.append(note)
    return cloud.target, warnings


def _declared_target(tool: dict[str, Any]) -> tuple[str, CodeTarget] | None:
    """The target [tool.dg] / [tool.dagster] name, with the key that names it."""
    dg_project = (tool.get("dg") or {}).get("project") or {}
    if dg_project.get("code_location_target_module"):
        return "[tool.dg.project] code_location_target_module", CodeTarget(
            module_name=str(dg_project["code_location_target_module"])
        )
    dagster = tool.get("dagster") or {}
    for key in ("module_name", "python_file"):
        if dagster.get(key):
            target = CodeTarget(**{key: str(dagster[key])}, attribute=dagster.get("attribute"))
            return f"[tool.dagster] {key}", target
    if dg_project.get("root_module"):
        return "[tool.dg.project] root_module", CodeTarget(
            module_name=f"{dg_project['root_module']}.definitions"
        )
    return None


def _guess_target(root: Path, name: str) -> CodeTarget:
    package = re.sub(r"[-.]+", "_", name).lower()
    for base in (root / "src", root):
        if (base / package / "definitions.py").is_file():
            return CodeTarget(module_name=f"{package}.definitions")
    if (root / "definitions.py").is_file():
        return CodeTarget(python_file="definitions.py")
    raise ConfigError(
        f"Could not find {root.name}'s Dagster definitions. Name them in pyproject.toml, e.g.\n"
        f'  [tool.dagster]\n  module_name = "{package}.definitions"\n'
        "or in dagster_cloud.yaml (code_source.module_name)."
    )


def _setup_py_name(root: Path) -> str | None:
    setup_py = root / "setup.py"
    if not setup_py.is_file():
        return None
    match = re.search(r"""name\s*=\s*["']([^"']+)["']""", setup_py.read_text(encoding="utf-8"))
    return match.group(1) if match else None
