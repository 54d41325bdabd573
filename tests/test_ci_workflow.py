"""docs/github-actions/deploy.yml, the workflow docs/ci.md offers: it parses, it is one job, and
every dagster-fastdeploy command in it is one our CLI accepts (names and options), with the
environment variables our CLI reads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import yaml

from dagster_fastdeploy.cli import cli

WORKFLOW = Path(__file__).resolve().parent.parent / "docs" / "github-actions" / "deploy.yml"
PACKAGE = Path(__file__).resolve().parent.parent / "dagster_fastdeploy"


def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def cli_command_lines(data: dict[Any, Any]) -> list[list[str]]:
    """The arguments of every dagster-fastdeploy invocation in the workflow's run steps."""
    found = []
    for job in data["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "").replace("\\\n", " ")
            for line in script.splitlines():
                if "dagster-fastdeploy" not in line or line.lstrip().startswith(("curl", "#")):
                    continue
                words = shlex.split(line, comments=True)
                start = next(i for i, w in enumerate(words) if "dagster-fastdeploy" in w) + 1
                args = []
                for word in words[start:]:
                    if word in (">", ">>", "|", "&&", ";", "2>&1"):
                        break
                    args.append(word)
                found.append(args)
    return found


def test_the_workflow_parses_and_is_one_job() -> None:
    data = workflow()
    assert list(data["jobs"]) == ["deploy"]
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in triggers
    steps = data["jobs"]["deploy"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert not any("pip install" in step.get("run", "") for step in steps)  # nothing installed


def test_its_commands_exist_in_our_cli_with_those_options() -> None:
    lines = cli_command_lines(workflow())
    assert [args[0] for args in lines] == ["deploy", "gc"]
    for args in lines:
        with cli.make_context("dagster-fastdeploy", ["--help"], resilient_parsing=True) as group:
            command = cli.get_command(group, args[0])
        assert isinstance(command, click.Command), args[0]
        # parses the options as the CLI would (an unknown option or a bad value raises)
        with command.make_context(f"dagster-fastdeploy {args[0]}", list(args[1:])) as ctx:
            assert ctx.command is command


def test_its_fastdeploy_variables_are_ones_the_cli_reads() -> None:
    data = workflow()
    names = [name for name in data["env"] if name.startswith("DAGSTER_FASTDEPLOY_")]
    assert names == ["DAGSTER_FASTDEPLOY_STORE"]
    sources = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    for name in names:
        assert re.search(rf'"{name}"', sources), name
