"""A dependency change on the host: the new environment links every wheel it shares with an
earlier one (files and bytecode), installs and compiles only the new wheel, and leaves the serving
environment untouched; scripts and imports work in it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from dagster_fastdeploy.manifest import Manifest
from dagster_fastdeploy.runtime.environments import Environment, Environments
from tests.fixtures_runtime import ProjectCopy, build_deps_pex, build_source_pex, publish


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            found[str(path.relative_to(root))] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return found


def _environment(
    store: Any, data_dir: Path, deps: Path, source: Path, timings: dict[str, float]
) -> Environment:
    entry = publish(store, "prod", "loc", deps, source, {"module_name": "app"})
    manifest = Manifest.from_dict(entry.manifest)
    return Environments(data_dir, store).prepare(manifest, timings, "loc", entry.version)


def test_a_new_wheel_is_installed_and_compiled_and_the_others_are_linked(
    tmp_path: Path, shared_caches: Path, file_store: Any
) -> None:
    pexes = shared_caches / "incremental-env-pexes"
    before = build_deps_pex(["toolz==1.0.0"], pexes / "toolz.pex")
    after = build_deps_pex(["toolz==1.0.0", "six==1.17.0"], pexes / "toolz-six.pex")
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "__init__.py").write_text("")
    source = build_source_pex(tmp_path / "src", tmp_path / "src" / "app", tmp_path / "s.pex")
    data_dir = tmp_path / "data"

    first_steps: dict[str, float] = {}
    first = _environment(file_store, data_dir, before, source, first_steps)
    assert first_steps["materialize.wheels_new"] == 1
    serving = _snapshot(first.deps_dir)

    steps: dict[str, float] = {}
    second = _environment(file_store, data_dir, after, source, steps)
    assert steps["materialize.wheels_new"] == 1  # six; toolz was linked
    assert "materialize.wheels_linked" in steps
    assert _snapshot(first.deps_dir) == serving  # the serving environment was not touched

    def pyc(env: Environment, module: str) -> Path:
        site = next(env.deps_dir.glob("lib/python*/site-packages"))
        return next(site.glob(f"{module}/__pycache__/*.pyc"))

    shared = pyc(first, "toolz/curried"), pyc(second, "toolz/curried")
    assert shared[0].stat().st_ino == shared[1].stat().st_ino  # linked, not compiled again
    site = next(second.deps_dir.glob("lib/python*/site-packages"))
    assert list(site.glob("__pycache__/six.*.pyc"))  # the new wheel was compiled

    # Both import, and a traceback names the environment's own files, not the first one's.
    code = "import six, toolz.itertoolz as m; print(m.groupby.__code__.co_filename)"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([str(second.python), "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(second.deps_dir)), done.stdout
    assert not done.stderr


def test_a_wheels_script_runs_under_the_environments_own_interpreter(
    tmp_path: Path, file_store: Any, project_copy: ProjectCopy
) -> None:
    entry = project_copy.publish(file_store, "prod")
    manifest = Manifest.from_dict(entry.manifest)
    environments = Environments(tmp_path / "data", file_store)
    env = environments.prepare(manifest, {}, "loc", entry.version)
    environments.stop()
    done = subprocess.run(
        [str(env.deps_dir / "bin" / "dagster"), "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and manifest.dagster_version in done.stdout, done.stderr


def test_a_cold_environment_compiles_what_a_standby_imports_first_and_the_rest_later(
    tmp_path: Path, file_store: Any, project_copy: ProjectCopy
) -> None:
    from dagster_fastdeploy.runtime.deps_venv import make_deps_venv

    entry = project_copy.publish(file_store, "prod")
    manifest = Manifest.from_dict(entry.manifest)
    environments = Environments(tmp_path / "data", file_store)
    steps: dict[str, float] = {}
    try:
        env = environments.prepare(manifest, steps, "loc", entry.version)
        new = steps["materialize.wheels_new"]
        assert new > 10 and steps["materialize.bytecode_later_wheels"] == new
        assert steps["materialize.bytecode_start_imports"] > 0
        site = next(env.deps_dir.glob("lib/python*/site-packages"))
        sources = list(site.rglob("*.py"))
        compiled = list(site.rglob("*.pyc"))
        assert list(site.glob("dagster/__pycache__/__init__.*.pyc"))  # the standby's imports
        assert list(site.glob("pandas/__pycache__/__init__.*.pyc"))  # a new wheel's top level
        assert 500 < len(compiled) < len(sources) / 2  # what starts, not everything
        assert steps["materialize.bytecode_start_files"] >= len(compiled)
        # Nearly every module a standby and the project's imports load has its bytecode now.
        code = (
            "import os, sys, importlib.util as u, dagster._grpc.server, dagster._utils.test;"
            "import pandas;"
            "f = [m.__file__ for m in list(sys.modules.values()) if (getattr(m, '__file__', None)"
            " or '').endswith('.py') and 'site-packages' in m.__file__];"
            "print(len(f), sum(os.path.exists(u.cache_from_source(x)) for x in f))"
        )
        done = subprocess.run(
            [str(env.python), "-B", "-c", code], capture_output=True, text=True, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        imported, with_bytecode = map(int, done.stdout.split())
        assert imported > 1000 and with_bytecode > 0.9 * imported, done.stdout
        serving = _snapshot(env.deps_dir)

        assert environments.bytecode.wait(timeout=600), "the background compile did not finish"
        assert _snapshot(env.deps_dir) == serving  # it wrote into the cache, not the environment
        installed = [p for p in (tmp_path / "data" / "installed-wheels").iterdir() if p.is_dir()]
        assert len(installed) == new and all(
            (p / ".bytecode-complete").is_file() for p in installed
        )
        # It starts and imports: dagster loads with what was compiled and what was not.
        done = subprocess.run(
            [str(env.python), "-c", "import dagster, pandas; print(dagster.__version__)"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert done.returncode == 0 and manifest.dagster_version in done.stdout, done.stderr
        assert _snapshot(env.deps_dir) == serving

        # The next environment of these wheels links all of their bytecode, nothing compiled.
        deps_pex = tmp_path / "deps.pex"
        file_store.get_blob(manifest.deps.name, deps_pex)
        again = make_deps_venv(
            deps_pex,
            tmp_path / "next",
            tmp_path / "next",
            env.python.resolve(),
            manifest.python,
            tmp_path / "data" / "installed-wheels",
            environments.bytecode,
        )
        assert "wheels_new" not in again and "bytecode_later_wheels" not in again
        site = next((tmp_path / "next").glob("lib/python*/site-packages"))
        assert len(list(site.rglob("*.pyc"))) > len(sources) * 0.9
    finally:
        environments.stop()
