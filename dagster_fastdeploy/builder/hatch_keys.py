"""The keys hatch itself reads from a build target's table, taken from hatchling's builder config
class so the list follows hatchling: `[tool.hatch.build.targets.fastdeploy]` may hold them beside
our own settings (config/project.py) without being reported as unknown."""

from __future__ import annotations

import ast
import inspect
import textwrap
from functools import cache


@cache
def hatch_target_keys() -> frozenset[str]:
    """Every key hatchling's BuilderConfig (the config class of our hatch builder) looks up in
    `target_config`: `"key" in ...`, `.get("key")` and `["key"]` on it or on a name bound to it."""
    from dagster_fastdeploy.builder.hatch_builder import FastDeployBuilder

    keys: set[str] = set()
    for cls in FastDeployBuilder.get_config_class().__mro__[:-1]:
        keys |= _target_config_keys(ast.parse(textwrap.dedent(inspect.getsource(cls))))
    return frozenset(keys)


def _target_config_keys(tree: ast.AST) -> set[str]:
    names = {"target_config"}
    for node in ast.walk(tree):  # `include_config = self.target_config`
        if isinstance(node, ast.Assign) and _named(node.value, {"target_config"}):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    keys: set[str] = set()
    for node in ast.walk(tree):
        key: ast.expr | None
        if isinstance(node, ast.Compare) and any(_named(c, names) for c in node.comparators):
            key = node.left
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            is_get = node.func.attr == "get" and _named(node.func.value, names)
            key = node.args[0] if is_get and node.args else None
        elif isinstance(node, ast.Subscript) and _named(node.value, names):
            key = node.slice
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            keys.add(key.value)
    return keys


def _named(node: ast.AST, names: set[str]) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in names) or (
        isinstance(node, ast.Name) and node.id in names
    )
