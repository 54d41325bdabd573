"""What `dev` prints after each deploy: the definitions added or removed since the last version."""

from __future__ import annotations

from typing import Any

from dagster_fastdeploy.host_api import DEFINITION_KINDS


def definition_names(definitions: dict[str, list[Any]]) -> dict[str, set[str]]:
    """{kind: names} from a host status entry's definitions."""
    found: dict[str, set[str]] = {}
    for kind in DEFINITION_KINDS:
        names = set()
        for item in definitions.get(kind) or []:
            if isinstance(item, dict):
                names.add(str(item.get("key") or item.get("name")))
            else:
                names.add(str(item))
        found[kind] = names
    return found


def describe_changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> str:
    """`+asset new_one, -job old_job`, or `no definitions changed`."""
    parts = []
    for kind in DEFINITION_KINDS:
        label = kind[:-1].replace("_", " ")
        parts += [f"+{label} {n}" for n in sorted(after.get(kind, set()) - before.get(kind, set()))]
        parts += [f"-{label} {n}" for n in sorted(before.get(kind, set()) - after.get(kind, set()))]
    return ", ".join(parts) if parts else "no definitions changed"
