"""The `dagster-fastdeploy` command. Thin: parse options, call one library function, print.

Commands live in `dagster_fastdeploy/commands/` and are imported only when run, so that a
`deploy` does not pay for importing the host's gRPC machinery and `status` not for boto3.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from typing import Any

import click

from dagster_fastdeploy.errors import FastDeployError

# command name -> "module:attribute"
COMMANDS = {
    "build": "dagster_fastdeploy.commands.build_cmd:build",
    "cache": "dagster_fastdeploy.commands.cache_cmd:cache",
    "deploy": "dagster_fastdeploy.commands.deploy_cmd:deploy",
    "rollback": "dagster_fastdeploy.commands.deploy_cmd:rollback",
    "gc": "dagster_fastdeploy.commands.deploy_cmd:gc",
    "serve": "dagster_fastdeploy.commands.host_cmd:serve",
    "status": "dagster_fastdeploy.commands.host_cmd:status",
    "workspace": "dagster_fastdeploy.commands.host_cmd:workspace",
    "dev": "dagster_fastdeploy.commands.dev_cmd:dev",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                return None
            raise
        return getattr(module, attr, None)


@click.group(cls=LazyGroup)
@click.version_option(package_name="dagster-fastdeploy")
def cli() -> None:
    """Deploy Dagster projects as PEX artifacts into a warm code server."""


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, standalone_mode=False)
    except FastDeployError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


def run() -> None:
    """The console script and `python -m dagster_fastdeploy.cli`: main(), then the exit without
    the interpreter's teardown of every module a command imported (grpc's above all), which took
    0.05-0.2 s after a source-only deploy had finished. atexit handlers still run (logging, temp
    files) and the output is flushed first; with threads still running, or output that cannot be
    flushed, the exit is Python's own."""
    code: Any
    try:
        code = main()  # as `sys.exit(main())` did: a returned value is the exit status
    except SystemExit as e:
        code = e.code
    if not isinstance(code, int) and code is not None:
        sys.exit(code)  # a message: Python prints it, exit status 1
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code or 0)


if __name__ == "__main__":
    run()
