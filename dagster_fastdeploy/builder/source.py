"""source.pex: the project's own code, laid out as Dagster+ Serverless lays it out
(dagster-cloud-cli's pex_builder/source.py), so the same artifact runs there too:

- the project's package(s) and local path dependencies at the top level, from their wheels built
  through their own PEP 517 backends (as `pex -D <build dir>` would carry them);
- the project directory as package `working_directory`, its files under `working_directory/root`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from dagster_fastdeploy.builder.pex_zip import SourceFile, load_bootstrap, write_pex
from dagster_fastdeploy.builder.project_files import project_files
from dagster_fastdeploy.builder.project_wheel import build_wheel, new_wheel_dir
from dagster_fastdeploy.builder.wheel_layout import wheel_files
from dagster_fastdeploy.config import ProjectConfig
from dagster_fastdeploy.local_files import file_sha256, temp_file
from dagster_fastdeploy.manifest import Artifact

WORKING_DIRECTORY_INIT = b"# Auto generated package containing the original source at root/"


def source_files(
    config: ProjectConfig, local_projects: list[Path], out_dir: Path | None
) -> list[SourceFile]:
    files: dict[str, SourceFile] = {}
    listed = project_files(config.root, config.exclude, out_dir, config.include)
    contents = {rel: (config.root / rel).read_bytes() for rel in listed}
    executable = {rel: bool((config.root / rel).stat().st_mode & 0o111) for rel in listed}
    with new_wheel_dir() as tmp:
        for index, project in enumerate(local_projects):
            backend = _backend_of(project)
            if backend is not None:
                wheel_dir = Path(tmp) / f"local-{index}"
                wheel_dir.mkdir()
                _add(files, _wheel_files(build_wheel(project, backend, wheel_dir)))
        backend = config.build_backend
        if backend is not None:
            project_backend = backend

            def build() -> list[SourceFile]:
                return _wheel_files(build_wheel(config.root, project_backend, Path(tmp)))

            # The backend runs only when the project's layout changed (see wheel_layout.py).
            _add(files, wheel_files(config.root, backend, contents, executable, build))
    files["working_directory/__init__.py"] = SourceFile(
        "working_directory/__init__.py", WORKING_DIRECTORY_INIT
    )
    for rel in listed:
        name = f"working_directory/root/{rel}"
        files[name] = SourceFile(name, contents[rel], executable=executable[rel])
    return list(files.values())


def _add(files: dict[str, SourceFile], more: list[SourceFile]) -> None:
    for f in more:
        files[f.name] = f


def _backend_of(project: Path) -> str | None:
    from dagster_fastdeploy.config import read_toml

    if (project / "pyproject.toml").is_file():
        build_system = read_toml(project / "pyproject.toml").get("build-system") or {}
        if build_system.get("build-backend"):
            return str(build_system["build-backend"])
    if (project / "setup.py").is_file() or (project / "pyproject.toml").is_file():
        return "setuptools.build_meta:__legacy__"
    return None


def _wheel_files(wheel: Path) -> list[SourceFile]:
    """Unpack a wheel's importable files to the top level (its .data/purelib and platlib too)."""
    files: dict[str, SourceFile] = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            if name.split("/", 1)[0].endswith(".data"):
                _, _, rest = name.partition("/")
                kind, _, inner = rest.partition("/")
                if kind not in ("purelib", "platlib") or not inner:
                    continue
                name = inner
            if name.endswith(".dist-info/RECORD"):
                continue
            mode = info.external_attr >> 16
            files[name] = SourceFile(name, zf.read(info), executable=bool(mode & 0o111))
    return list(files.values())


def write_source_pex(files: list[SourceFile], python: str, out_dir: Path) -> tuple[Path, Artifact]:
    """Write source-<sha256>.pex into out_dir; returns its path and artifact record."""
    bootstrap = load_bootstrap(python)
    out_dir.mkdir(parents=True, exist_ok=True)
    with temp_file(out_dir / "source.pex") as staging:
        write_pex(staging, files, bootstrap)
        sha256 = file_sha256(staging)
        size = staging.stat().st_size
        artifact = Artifact(name=Artifact.name_for("source", sha256), sha256=sha256, size=size)
        final = out_dir / artifact.name
        staging.replace(final)
    return final, artifact
