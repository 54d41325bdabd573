"""What the alternatives pay, measured on the same machine in the same run.

- image_rebuild: a fresh virtualenv, `pip install` of the same pinned requirements plus the project,
  then a cold `dagster api grpc` until it answers a ping: the lower bound of a Docker build with a
  dependency-layer miss plus a fresh container, without push or pull. pip downloads its wheels as
  a fresh image build does (pip's HTTP cache keeps no files on this machine, `pip cache info`),
  some from the machine's local package mirror where pip's configuration names one (23 of the
  example's 51 here), which only flatters this baseline.
- image_restart: the same environment already built (pip compiled its bytecode, as an image build
  does); a new `dagster api grpc` process started cold until it answers: what a new container pays
  for a source-only change before any build, push or pull.
- dagster_plus_builder: dagster-cloud-cli's own deps.pex and source.pex builders on the same
  project, in a virtualenv of their own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from benchmarks.timing import Run, Scenario, wait_until

# dagster-cloud-cli runs pex with `--pip-version=latest`; the newest pex (2.104+) takes that to mean
# pip 26.2.2, which this machine's package registry does not serve. pex 2.100 means pip 26.2.1.
DAGSTER_PLUS_PEX = "pex==2.100.0"


# The builders' own functions, called as dagster-cloud-cli's CI actions call them. (Its
# `python -m ...pex_builder.source` entry point passes the Python version unparsed and fails, so
# both steps go through the functions.)
DAGSTER_PLUS_BUILD = {
    "deps": (
        "import sys; from dagster_cloud_cli.core.pex_builder import deps, util; "
        "deps.build_deps_pex(sys.argv[1], sys.argv[2], util.parse_python_version(sys.argv[3]))"
    ),
    "source": (
        "import sys; from dagster_cloud_cli.core.pex_builder import deps, source, util; "
        "v = util.parse_python_version(sys.argv[3]); "
        "local, _ = deps.get_deps_requirements(sys.argv[1], v); "
        "source.build_source_pex(sys.argv[1], local.local_package_paths, sys.argv[2], v)"
    ),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def grpc_answers(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient

    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    return client.ping("bench")["echo"] == "bench"


def pin_requirements(project_dir: Path, python: str, out: Path) -> Path:
    """The project's dependencies pinned the way an image build would install them."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "compile",
            "--quiet",
            "--python-version",
            python,
            str(project_dir / "pyproject.toml"),
            "-o",
            str(out),
        ],
        check=True,
    )
    return out


def start_code_server(python_bin: Path, module: str, cwd: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(python_bin),
            "-m",
            "dagster",
            "api",
            "grpc",
            "-m",
            module,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


def start_until_answered(python_bin: Path, module: str, cwd: Path) -> None:
    """A cold `dagster api grpc`, from process start until it answers a ping; then stopped."""
    proc, port = start_code_server(python_bin, module, cwd)
    try:
        wait_until(lambda: grpc_answers(port), timeout=180)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def image_rebuild(
    scenario: Scenario, project_dir: Path, module: str, pinned: Path, work: Path, runs: int
) -> Path | None:
    """Returns the last built venv, reused by image_restart."""
    venv: Path | None = None
    for i in range(runs):
        venv = work / f"image-venv-{i}"
        shutil.rmtree(venv, ignore_errors=True)

        def body(run: Run, venv: Path = venv) -> None:
            with run.step("venv"):
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
            ]
            with run.step("pip_install_deps"):
                subprocess.run([*pip, "-r", str(pinned)], check=True)
            with run.step("pip_install_project"):
                subprocess.run([*pip, "--no-deps", str(project_dir)], check=True)
            with run.step("start"):
                start_until_answered(venv / "bin" / "python", module, project_dir)

        scenario.measure(body)
        if i < runs - 1:
            shutil.rmtree(venv, ignore_errors=True)
    return venv


def image_restart(
    scenario: Scenario, venv: Path, project_dir: Path, module: str, runs: int
) -> None:
    for _ in range(runs):

        def body(run: Run) -> None:
            with run.step("start"):
                start_until_answered(venv / "bin" / "python", module, project_dir)

        scenario.measure(body)


def dagster_plus_builder(
    scenario: Scenario, project_dir: Path, python: str, work: Path, runs: int
) -> None:
    venv = work / "dagster-cloud-cli-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "dagster-cloud-cli",
                DAGSTER_PLUS_PEX,
            ],
            capture_output=True,
            text=True,
        )
        if installed.returncode != 0:
            scenario.skipped = (
                "dagster-cloud-cli could not be installed: " + installed.stderr[-500:]
            )
            return
    python_bin = str(venv / "bin" / "python")
    version = subprocess.run(
        [python_bin, "-m", "pip", "show", "dagster-cloud-cli"], capture_output=True, text=True
    ).stdout
    scenario.extra["dagster_cloud_cli"] = next(
        (
            line.split(":", 1)[1].strip()
            for line in version.splitlines()
            if line.startswith("Version")
        ),
        None,
    )
    project_dir = _with_dagster_cloud(project_dir, work / "dagster-plus-project")
    env = {**os.environ, "PEX_ROOT": str(work / "dagster-cloud-pex-root")}
    for i in range(runs):
        out = work / f"dagster-plus-out-{i}"
        shutil.rmtree(out, ignore_errors=True)

        def body(run: Run, out: Path = out) -> None:
            for step, module in (("deps_pex", "deps"), ("source_pex", "source")):
                with run.step(step):
                    done = subprocess.run(
                        [
                            python_bin,
                            "-c",
                            DAGSTER_PLUS_BUILD[module],
                            str(project_dir),
                            str(out),
                            python,
                        ],
                        capture_output=True,
                        text=True,
                        env=env,
                    )
                if done.returncode != 0:
                    raise RuntimeError(
                        f"dagster-cloud-cli {module} builder failed: "
                        + (done.stderr or done.stdout)[-800:]
                    )

        try:
            scenario.measure(body)
        except RuntimeError as e:
            scenario.skipped = str(e)
            scenario.runs.clear()
            return


def _with_dagster_cloud(project_dir: Path, copy: Path) -> Path:
    """The Serverless builder insists on `dagster-cloud` among the deps (a Serverless project
    has it); give it a copy of the project that declares it."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(project_dir, copy, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    declared = text.replace("dependencies = [", 'dependencies = [\n  "dagster-cloud",', 1)
    pyproject.write_text(declared)
    return copy
