"""The build pipeline: config -> requirements -> deps.pex (cached, or known to the store) ->
source.pex -> manifest.json, with an optional definitions check. Every front calls
`build_project`."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from dagster_fastdeploy.errors import DefinitionsLoadError
from dagster_fastdeploy.local_files import TMP_PREFIX
from dagster_fastdeploy.manifest import Manifest

if TYPE_CHECKING:
    from dagster_fastdeploy.builder.target import BuildTarget
    from dagster_fastdeploy.config import ProjectConfig

__all__ = ["BuildResult", "build_project", "deps_index_entry", "deps_input_hash"]

KnownDeps = Callable[[str], Optional[dict]]


@dataclass
class BuildResult:
    manifest: Manifest
    manifest_path: Path
    deps_path: Path | None  # None when the deps step was answered by `known_deps`
    source_path: Path
    deps_built: bool
    seconds: dict[str, float] = field(default_factory=dict)
    resolved: bool = False  # the resolver ran in this build
    warnings: list[str] = field(default_factory=list)  # notes for the user; the build succeeded
    for_target: str | None = None  # "dagster-plus", else a fastdeploy host

    def to_json(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "location": m.location,
            "deps": {
                "name": m.deps.name,
                "path": str(self.deps_path) if self.deps_path else None,
                "sha256": m.deps.sha256,
                "size": m.deps.size,
                "built": self.deps_built,
            },
            "source": {
                "name": m.source.name,
                "path": str(self.source_path),
                "sha256": m.source.sha256,
                "size": m.source.size,
            },
            "manifest": str(self.manifest_path),
            "pex_tag": m.pex_tag,
            "python": m.python,
            "platforms": m.platforms,
            "deps_hash": m.deps_hash,
            "deps_locked_hash": m.deps_locked_hash,
            "dagster_version": m.dagster_version,
            "target": m.target.describe(),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "warnings": list(self.warnings),
            "for": self.for_target,
        }


def deps_index_entry(result: BuildResult) -> dict[str, Any]:
    """The store's deps index entry for this build's deps (what `known_deps` returns)."""
    m = result.manifest
    return {
        "deps": {"name": m.deps.name, "sha256": m.deps.sha256, "size": m.deps.size},
        "locked_hash": m.deps_locked_hash,
        "dagster_version": m.dagster_version,
        "python": m.python,
        "platforms": list(m.platforms),
    }


def deps_input_hash(
    project_dir: Path, python: str | None = None, platforms: list[str] | None = None
) -> str:
    """The deps input hash of a project, without resolving anything."""
    from dagster_fastdeploy.builder.deps import input_hash
    from dagster_fastdeploy.builder.requirements import collect
    from dagster_fastdeploy.config import load_project

    config = load_project(Path(project_dir))
    target = _target(config.python if python is None else python, platforms, config.platforms)
    return input_hash(config, target, collect(config, target.helper_python))


def _target(
    python: str, platforms: list[str] | None, configured: list[str], need_interpreter: bool = False
) -> BuildTarget:
    """The build's target. A foreign-platform build needs no local interpreter of that version
    (unless it is to load the definitions: `need_interpreter`); a host build does."""
    from dagster_fastdeploy.builder.interpreters import find_python
    from dagster_fastdeploy.builder.target import BuildTarget, check_platform
    from dagster_fastdeploy.config import check_python_version
    from dagster_fastdeploy.errors import ConfigError

    check_python_version(python)
    chosen = tuple(check_platform(p) for p in (configured if platforms is None else platforms))
    interpreter: Path | None
    try:
        interpreter = find_python(python)
    except ConfigError:
        if not chosen or need_interpreter:
            raise
        interpreter = None
    return BuildTarget(python=python, interpreter=interpreter, platforms=chosen)


def _check_location_name(name: str) -> None:
    """Refuse at build a location name that `deploy` and the host would refuse later."""
    from dagster_fastdeploy.errors import ConfigError, InvalidNameError
    from dagster_fastdeploy.store.records import check_name

    try:
        check_name("location", name)
    except InvalidNameError as e:
        raise ConfigError(
            f'{e}. Name the location with `location = "..."` in [tool.dagster-fastdeploy] '
            "(or `location_name` in dagster_cloud.yaml) and build again."
        ) from None


def build_project(
    project_dir: Path,
    out_dir: Path | None = None,
    python: str | None = None,
    platforms: list[str] | None = None,
    refresh_deps: bool = False,
    check: bool = False,
    progress: Callable[[str], None] | None = None,
    known_deps: KnownDeps | None = None,
    config: ProjectConfig | None = None,
    for_target: str | None = None,
) -> BuildResult:
    """Build `project_dir` into `out_dir` (default PROJECT_DIR/dist/fastdeploy).

    deps.pex is reused from the local build cache when its input hash is known (no resolver, no
    pex), else taken from `known_deps(deps_hash)` without building anything (then `deps_path` is
    None), else resolved and built. source.pex is always rebuilt, in-process. With `check`, the
    definitions are loaded in the built environment and a failure raises DefinitionsLoadError
    carrying the user's traceback. On any error the out dir is left without partial files.
    `config` is the project already read (a dagster_cloud.yaml location); default: read it, for
    `for_target` (`--for`, see dagster_plus.py).
    """
    from dagster_fastdeploy.builder.deps import input_hash, prepare_deps
    from dagster_fastdeploy.builder.requirements import collect
    from dagster_fastdeploy.builder.source import source_files, write_source_pex
    from dagster_fastdeploy.config import load_project

    say = progress or (lambda _: None)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    config = config or load_project(Path(project_dir), for_target=for_target)
    _check_location_name(config.location_name)
    target = _target(python or config.python, platforms, config.platforms, need_interpreter=check)
    out = Path(out_dir).resolve() if out_dir is not None else config.default_out_dir
    created_out = not out.exists()
    try:
        step = time.perf_counter()
        declared = collect(config, target.helper_python)
        if config.for_target == "dagster-plus":
            from dagster_fastdeploy.builder.dagster_plus import check_requirements

            check_requirements(config.name, _names(declared.requirements))
        deps_hash = input_hash(config, target, declared)
        seconds["deps_hash"] = time.perf_counter() - step

        out.mkdir(parents=True, exist_ok=True)
        # source.pex is built beside the deps step (which waits on uv and pex processes).
        made: dict[str, Any] = {}

        def source_step() -> None:
            try:
                step = time.perf_counter()
                made["files"] = source_files(config, declared.local_projects, out)
                seconds["source_files"] = time.perf_counter() - step
                step = time.perf_counter()
                made["pex"] = write_source_pex(made["files"], target.python, out)
                seconds["source_pex"] = time.perf_counter() - step
            except BaseException as e:  # raised again in the building thread
                made["error"] = e

        sources_before = {p.name for p in out.glob("source-*.pex")}
        source_thread = threading.Thread(target=source_step, name="source.pex")
        say("Building source.pex")  # while the dependencies' lines follow
        source_thread.start()
        step = time.perf_counter()
        try:
            deps = prepare_deps(
                config,
                target,
                declared,
                deps_hash,
                out,
                refresh_deps,
                None if check else known_deps,
                say,
            )
            seconds["deps"] = time.perf_counter() - step
        except BaseException:
            source_thread.join()
            if "pex" in made and made["pex"][0].name not in sources_before:
                made["pex"][0].unlink(missing_ok=True)  # the build failed: nothing half-written
            raise
        source_thread.join()
        seconds.update(deps.seconds)
        if "error" in made:
            raise made["error"]
        files = made["files"]
        notes = list(config.warnings) + _left_out_env(config, files)
        source_path, source = made["pex"]

        manifest = Manifest(
            location=config.location_name,
            target=config.target,
            python=target.python,
            platforms=target.platform_names,
            deps_hash=deps_hash,
            deps_locked_hash=deps.entry["locked_hash"],
            deps=deps.artifact,
            source=source,
            dagster_version=deps.entry.get("dagster_version"),
            preload=config.preload,
            memory_limit=config.memory_limit,
            host_group=config.host_group,
            container_context=config.container_context,
        )
        if check:
            say("Loading the definitions")
            step = time.perf_counter()
            from dagster_fastdeploy.builder.check import check_definitions

            assert deps.path is not None and target.interpreter is not None
            try:
                check_definitions(manifest, deps.path, source_path, target.interpreter, config.root)
            except DefinitionsLoadError as e:
                hint = _other_target_hint(config, manifest, deps.path, source_path, target)
                if hint is None:
                    raise
                raise DefinitionsLoadError(f"{e}\n\n{hint}") from e
            seconds["check"] = time.perf_counter() - step
        seconds["total"] = time.perf_counter() - started
        manifest.timings = {k: round(v, 4) for k, v in seconds.items()}
        manifest_path = out / "manifest.json"
        manifest.write(manifest_path)
    except BaseException:
        _clean_out_dir(out, created_out)
        raise
    return BuildResult(
        manifest=manifest,
        manifest_path=manifest_path,
        deps_path=deps.path,
        source_path=source_path,
        deps_built=deps.built,
        seconds=seconds,
        resolved=deps.resolved,
        warnings=notes,
        for_target=config.for_target,
    )


def _left_out_env(config: ProjectConfig, files: list[Any]) -> list[str]:
    """Dagster loads `.env` from the working directory; say when one stayed out (secrets)."""
    shipped = {f.name for f in files}
    if not (config.root / ".env").is_file() or "working_directory/root/.env" in shipped:
        return []
    return [
        f"{config.root / '.env'} was left out of source.pex (git-ignored or excluded: secrets "
        "stay out by default), so Dagster will not load it. To ship it, add "
        'include = [".env"] to [tool.dagster-fastdeploy] in pyproject.toml.'
    ]


def _names(requirements: list[str]) -> list[str]:
    from packaging.requirements import Requirement

    return [Requirement(line).name for line in requirements]


def _other_target_hint(
    config: ProjectConfig,
    manifest: Manifest,
    deps_path: Path,
    source_path: Path,
    target: BuildTarget,
) -> str | None:
    """When dagster_cloud.yaml's target does not load but pyproject.toml's would, what to say."""
    from dagster_fastdeploy.builder.check import check_definitions

    if config.other_target is None or target.interpreter is None:
        return None
    key, other = config.other_target
    trial = Manifest.from_dict({**manifest.to_dict(), "target": asdict(other)})
    try:
        check_definitions(trial, deps_path, source_path, target.interpreter, config.root)
    except DefinitionsLoadError:
        return None
    return (
        f"dagster_cloud.yaml's code_source ({manifest.target.describe()}) was used and "
        f"does not load, but pyproject.toml's {key} ({other.describe()}) loads Definitions. Point "
        "code_source at it in dagster_cloud.yaml (or fix the module it names)."
    )


def _clean_out_dir(out: Path, created: bool) -> None:
    """Remove temp files a failed build may have left, and the out dir if this build made it."""
    if not out.is_dir():
        return
    for leftover in out.glob(f"{TMP_PREFIX}*"):
        leftover.unlink(missing_ok=True)
    if created:
        try:
            for child in out.iterdir():
                if child.name.startswith(("deps-", "source-")) or child.name == "manifest.json":
                    child.unlink()
            out.rmdir()
        except OSError:
            pass
