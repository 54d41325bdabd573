"""The build fronts, for real: `hatch build -t fastdeploy`, `pip wheel .`, `python -m build`.

Each runs on a copy of example_project whose build-system requires this repository, in the
front's own isolated build environment, and must give the PEX outputs build_project gives (and,
for the PEP 517 backend, the wheel and sdist hatchling gives)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_fastdeploy.builder import BuildResult, build_project
from dagster_fastdeploy.manifest import Manifest

REPO = Path(__file__).resolve().parent.parent
HATCH = shutil.which("hatch", path=os.path.dirname(sys.executable)) or shutil.which("hatch")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def use_build_system(project: Path, backend: str) -> Path:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    text = text.replace(
        'requires = ["hatchling"]\nbuild-backend = "hatchling.build"',
        f'requires = ["hatchling", "dagster-fastdeploy @ {REPO.as_uri()}"]\n'
        f'build-backend = "{backend}"',
    )
    pyproject.write_text(text)
    return project


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def hatchling_outputs(project: Path, out: Path) -> tuple[Path, Path]:
    """The wheel and sdist hatchling itself builds from `project`."""
    out.mkdir()
    code = (
        "import sys, hatchling.build as h\n"
        "print(h.build_wheel(sys.argv[1])); print(h.build_sdist(sys.argv[1]))"
    )
    names = run([sys.executable, "-c", code, str(out)], cwd=project).stdout.split()
    return out / names[0], out / names[1]


def assert_same_pex_outputs(manifest_path: Path, project: Path, tmp_path: Path) -> None:
    written = Manifest.read(manifest_path)
    expected = build_project(project, out_dir=tmp_path / "expected").manifest
    assert written.source == expected.source
    assert written.deps == expected.deps
    for artifact in (written.deps, written.source):
        assert sha256(manifest_path.parent / artifact.name) == artifact.sha256


@pytest.mark.skipif(HATCH is None, reason="hatch is in the test extra")
def test_hatch_build_target_fastdeploy(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    project = use_build_system(copy_project(), "hatchling.build")
    run([str(HATCH), "build", "-t", "fastdeploy"], cwd=project, HATCH_DATA_DIR=str(tmp_path / "h"))
    assert sorted(p.name for p in (project / "dist").iterdir() if p.suffix == ".json") == [
        "manifest.json"
    ]
    shutil.copytree(project, tmp_path / "clean", ignore=shutil.ignore_patterns("dist"))
    assert_same_pex_outputs(project / "dist" / "manifest.json", tmp_path / "clean", tmp_path)


def test_pip_wheel_gives_hatchlings_wheel_and_the_pex_outputs(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    project = use_build_system(copy_project(), "dagster_fastdeploy.backend")
    reference = copy_project(dest="reference")
    use_build_system(reference, "dagster_fastdeploy.backend")
    wheel, _ = hatchling_outputs(reference, tmp_path / "hatchling")

    run([sys.executable, "-m", "pip", "wheel", ".", "-w", "dist", "--no-deps"], cwd=project)
    assert sha256(project / "dist" / wheel.name) == sha256(wheel)
    assert_same_pex_outputs(project / "dist" / "fastdeploy" / "manifest.json", reference, tmp_path)


def test_python_m_build_gives_hatchlings_sdist_and_wheel_and_the_pex_outputs(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    project = use_build_system(copy_project(), "dagster_fastdeploy.backend")
    reference = copy_project(dest="reference")
    use_build_system(reference, "dagster_fastdeploy.backend")
    wheel, sdist = hatchling_outputs(reference, tmp_path / "hatchling")

    run([sys.executable, "-m", "build", "--outdir", "dist"], cwd=project)
    assert sha256(project / "dist" / sdist.name) == sha256(sdist)
    assert sha256(project / "dist" / wheel.name) == sha256(wheel)
    assert_same_pex_outputs(project / "dist" / "fastdeploy" / "manifest.json", reference, tmp_path)


def test_the_backend_can_be_told_to_skip_the_pex_outputs(copy_project) -> None:
    project = use_build_system(copy_project(), "dagster_fastdeploy.backend")
    run(
        [sys.executable, "-m", "pip", "wheel", ".", "-w", "dist", "--no-deps"]
        + ["--no-build-isolation"],
        cwd=project,
        DAGSTER_FASTDEPLOY_SKIP_PEX="1",
    )
    assert [p.name for p in (project / "dist").iterdir()] == [
        "dagster_fastdeploy_example-0.1.0-py3-none-any.whl"
    ]
