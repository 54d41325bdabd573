"""What a project declares it depends on: `[project.dependencies]` (plus selected extras),
requirements.txt, setup.py (through egg_info in the target interpreter), and the local path
dependencies among them, which go into source.pex instead of deps.pex."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from dagster_fastdeploy.config import ProjectConfig, read_toml
from dagster_fastdeploy.errors import BuildError, ConfigError
from dagster_fastdeploy.local_files import write_atomically


@dataclass
class DeclaredDeps:
    """Third-party requirements (normalized, sorted) and local projects of one project."""

    requirements: list[str] = field(default_factory=list)
    local_projects: list[Path] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)


def collect(config: ProjectConfig, python: Path) -> DeclaredDeps:
    """Collect a project's declared dependencies; `python` runs setup.py when there is one."""
    declared = DeclaredDeps(
        index_url=config.index_url,
        extra_index_urls=list(config.extra_index_urls),
        find_links=list(config.find_links),
    )
    try:
        raw = _project_requirements(config.root, config.pyproject, config.extras, python)
    except UnknownExtra as e:
        raise ConfigError(f"`{config.key_of('extras')}` names {e}") from None
    for path in [config.root / "requirements.txt", *config.requirements_files]:
        if path.is_file():
            raw += _read_requirements_file(path, declared)
        elif path != config.root / "requirements.txt":
            raise ConfigError(
                f"Requirements file {path} ({config.key_of('requirements')}) does not exist."
            )
    seen_local: set[Path] = {config.root}
    queue = list(raw)
    found: dict[str, str] = {}
    memo = _NormalizedMemo()
    while queue:
        line = queue.pop(0)
        local = local_path(line, config.root)
        if local is not None:
            if local not in seen_local:
                seen_local.add(local)
                declared.local_projects.append(local)
                local_pyproject = (
                    read_toml(local / "pyproject.toml")
                    if (local / "pyproject.toml").is_file()
                    else {}
                )
                queue += _project_requirements(local, local_pyproject, [], python)
            continue
        normalized = memo.normalize(line)
        found.setdefault(normalized.lower(), normalized)
    memo.save()
    declared.requirements = sorted(found.values(), key=str.lower)
    return declared


class _NormalizedMemo:
    """normalize() remembered in the build cache, per installed `packaging`: a build whose
    requirement lines were all seen before does not import packaging (part of every deploy)."""

    def __init__(self) -> None:
        import hashlib
        import importlib.util
        import json

        from dagster_fastdeploy.builder.cache import cache_root

        spec = importlib.util.find_spec("packaging")
        origin = spec.origin if spec is not None and spec.origin else ""
        stamp = f"{origin}:{os.stat(origin).st_mtime_ns if origin else 0}"
        name = hashlib.sha256(stamp.encode()).hexdigest()[:16]
        self.path = cache_root() / "normalized-requirements" / f"{name}.json"
        try:
            self.known: dict[str, str] = dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def normalize(self, line: str) -> str:
        if line not in self.known:
            self.known[line] = normalize(line)
            self.changed = True
        return self.known[line]

    def save(self) -> None:
        if not self.changed:
            return
        import json

        write_atomically(self.path, json.dumps(self.known, sort_keys=True))


def normalize(line: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        req = Requirement(line)
    except InvalidRequirement as e:
        raise ConfigError(f"Invalid requirement {line!r}: {e}") from e
    req.name = canonicalize_name(req.name)
    return str(req)


def local_path(line: str, root: Path) -> Path | None:
    """The directory a local requirement points at (`./libs/foo`, `foo @ file:...`), or None."""
    text = line.strip()
    if text.startswith("-e "):
        text = text[3:].strip()
    if " @ " in text:
        text = text.split(" @ ", 1)[1].split(";", 1)[0].strip()
    text = text.replace("{root:uri}", root.as_uri()).replace("{root}", str(root))
    if text.startswith("file:"):
        parsed = urlparse(text)
        text = unquote(parsed.path) if parsed.netloc in ("", "localhost") else text
    elif not text.startswith((".", "/")):
        return None
    path = (root / text).resolve()
    if not path.is_dir():
        raise ConfigError(f"Local dependency {line!r} points at {path}, which is not a directory.")
    return path


class UnknownExtra(Exception):
    """An extra that the project does not declare (the caller names the setting)."""


def _project_requirements(
    root: Path, pyproject: dict, extras: list[str], python: Path
) -> list[str]:
    project = pyproject.get("project")
    if project is None or "dependencies" in (project.get("dynamic") or []):
        if (root / "setup.py").is_file():
            return _setup_py_requirements(root, extras, python)
        return []
    lines = list(project.get("dependencies") or [])
    optional = project.get("optional-dependencies") or {}
    for extra in extras:
        if extra not in optional:
            groups = ", ".join(sorted(optional)) or "none"
            raise UnknownExtra(
                f"{extra!r}, which is not a group in [project.optional-dependencies] (groups: "
                f"{groups})."
            )
        lines += optional[extra]
    return lines


def _read_requirements_file(path: Path, declared: DeclaredDeps) -> list[str]:
    lines: list[str] = []
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        option, _, value = line.partition(" ")
        value = value.strip()
        if option in ("-r", "--requirement"):
            lines += _read_requirements_file((path.parent / value).resolve(), declared)
        elif option in ("-i", "--index-url"):
            declared.index_url = value
        elif option == "--extra-index-url":
            declared.extra_index_urls.append(value)
        elif option in ("-f", "--find-links"):
            declared.find_links.append(value)
        elif option in ("-e", "--editable"):
            lines.append(f"-e {value}")
        elif option in ("-c", "--constraint") or line.startswith("--"):
            continue
        else:
            lines.append(re.sub(r"\s--hash=\S+", "", line).strip())
    return [_relative_to(line, path.parent) for line in lines]


def _relative_to(line: str, base: Path) -> str:
    bare = line[3:].strip() if line.startswith("-e ") else line
    if bare.startswith("."):
        return str((base / bare).resolve())
    return line


_EGG_INFO_SCRIPT = """
import runpy, sys
sys.argv = ["setup.py", "-q", "egg_info", "--egg-base", sys.argv[1]]
sys.path.insert(0, "")
runpy.run_path("setup.py", run_name="__main__")
"""


def _setup_py_requirements(root: Path, extras: list[str], python: Path) -> list[str]:
    """Run `setup.py egg_info` in the target interpreter and read requires.txt."""
    with tempfile.TemporaryDirectory() as egg_base:
        result = None
        for interpreter in dict.fromkeys([str(python), sys.executable]):
            result = subprocess.run(
                [interpreter, "-c", _EGG_INFO_SCRIPT, egg_base],
                cwd=root,
                capture_output=True,
                text=True,
            )
            if result.returncode == 0:
                break
            if "No module named 'setuptools'" not in result.stderr:
                break
        assert result is not None
        if result.returncode != 0:
            raise BuildError(
                f"`setup.py egg_info` failed in {root}; fix setup.py so it runs:\n"
                + result.stderr[-3000:]
            )
        requires = list(Path(egg_base).glob("*.egg-info/requires.txt"))
        if not requires:
            return []
        return _parse_requires_txt(requires[0].read_text(encoding="utf-8"), extras)


def _parse_requires_txt(text: str, extras: list[str]) -> list[str]:
    lines: list[str] = []
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section is None:
            lines.append(line)
            continue
        extra, _, marker = section.partition(":")
        if extra and extra not in extras:
            continue
        lines.append(f"{line}; {marker}" if marker else line)
    return lines
