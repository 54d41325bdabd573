"""What `dagster dev` runs beside the code servers, started by `dev` on the warm host's
endpoints: dagster-webserver (the UI) and dagster-daemon (run queue, schedules, sensors,
declarative automation), both on one DAGSTER_HOME.

The DAGSTER_HOME is `--dagster-home`, else `$DAGSTER_HOME`, else `<data-dir>/dagster_home`; only
that last one (ours) gets a dagster.yaml written, and only when it has none.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.actions.dev_processes import child_process, http_ok, wait_for
from dagster_fastdeploy.errors import ConfigError, HostError

# A scratch instance: no first-run community dialog. Runs queue, and the daemon launches them.
SCRATCH_INSTANCE = "nux:\n  enabled: false\n"


def dagster_home(chosen: Path | None, data_dir: Path) -> Path:
    """The instance directory `dev` runs Dagster on (see the module docstring)."""
    given = chosen or (Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else None)
    if given is not None:
        home = given.expanduser().resolve()
        if home.exists() and not home.is_dir():
            raise ConfigError(f"DAGSTER_HOME {home} is a file: give a directory")
        home.mkdir(parents=True, exist_ok=True)
        return home
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists() and not (home / "dagster.yml").exists():
        instance_yaml.write_text(SCRATCH_INSTANCE)
    return home


def webserver_args(workspace: Path, ui_port: int) -> list[str]:
    return [
        sys.executable, "-m", "dagster_webserver",
        "-w", str(workspace), "-h", "127.0.0.1", "-p", str(ui_port),
    ]  # fmt: skip


def daemon_args(workspace: Path) -> list[str]:
    return [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)]


# Create (or migrate) the instance's storages once, before the webserver and the daemon start:
# both would otherwise create the same SQLite databases at the same moment, and alembic then
# finds two heads in `alembic_version` ("Version table ... has more than one head present").
PREPARE_INSTANCE = (
    "from dagster import DagsterInstance\n"
    "instance = DagsterInstance.get()\n"
    "instance.run_storage, instance.event_log_storage, instance.schedule_storage\n"
)


def prepare_instance(env: dict[str, str], log: Path) -> None:
    """Open the instance at env's DAGSTER_HOME once, so that its storages exist."""
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-c", PREPARE_INSTANCE],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=300,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise HostError(
            f"the Dagster instance at DAGSTER_HOME {env['DAGSTER_HOME']} does not open "
            f"(check its dagster.yaml); {log}:\n{tail}"
        )


def missing_packages() -> list[str]:
    return [
        name
        for name, module in (("dagster", "dagster"), ("dagster-webserver", "dagster_webserver"))
        if importlib.util.find_spec(module) is None
    ]


@contextmanager
def dagster_services(
    workspace: Path,
    home: Path,
    ui_port: int,
    logs: Path,
    echo: Callable[[str], None],
) -> Iterator[None]:
    """Run dagster-webserver and dagster-daemon on `workspace` and `home` until the block ends."""
    missing = missing_packages()
    if missing:
        echo(
            f"{' and '.join(missing)} not installed here: `pip install 'dagster-fastdeploy[dev]'` "
            f"(or run `dagster dev -w {workspace}` from any environment) to see the UI and run "
            "schedules and sensors"
        )
        yield
        return
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    url = f"http://127.0.0.1:{ui_port}"
    with ExitStack() as stack:
        web_log, daemon_log = logs / "webserver.log", logs / "daemon.log"
        prepare_instance(env, web_log)
        web = stack.enter_context(child_process(webserver_args(workspace, ui_port), web_log, env))
        stack.enter_context(child_process(daemon_args(workspace), daemon_log, env))
        wait_for(
            lambda: http_ok(f"{url}/server_info"), 120, f"dagster-webserver at {url}", web, web_log
        )
        echo(
            f"Dagster UI: {url}, with dagster-daemon for runs, schedules and sensors "
            f"(DAGSTER_HOME {home}; logs {web_log.name}, {daemon_log.name} in {logs})"
        )
        yield
