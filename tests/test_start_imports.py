"""Which files importing a module loads, read from the imports: what a new environment compiles
before its first standby (runtime/start_imports.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster_fastdeploy.runtime.start_imports import imported_names, start_files


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


PACKAGE = {
    "app/__init__.py": (
        '"""An app."""\n'
        "from __future__ import annotations\n"
        "import os, app.core as core\n"
        "from .models import (\n"
        "    Model,  # a class\n"
        "    helpers,\n"
        ")\n"
        "from app import plugins\n"
        "try:\n"
        "    import fast_json\n"
        "except ImportError:\n"
        "    fast_json = None\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import typing_only\n"
        "def later():\n"
        "    import on_call\n"
        "class Thing:\n"
        "    import in_class\n"
    ),
    "app/core.py": "from . import util\n",
    "app/util.py": "X = 1\n",
    "app/models/__init__.py": "from ..core import *\nModel = object\n",
    "app/models/helpers.py": "from ...app_other import nothing\n",
    "app/plugins/__init__.py": "from app.plugins.first import go\n",
    "app/plugins/first.py": "def go(): ...\n",
    "app/unused.py": "import never\n",
    "fast_json.py": "",
    "typing_only.py": "",
    "on_call.py": "",
    "in_class.py": "",
}


def test_module_level_imports_are_followed_and_lazy_ones_are_not(tmp_path: Path) -> None:
    _write(tmp_path, PACKAGE)
    found = [str(p.relative_to(tmp_path)) for p in start_files(tmp_path, ["app"])]
    assert found[0] == "app/__init__.py"  # a package's __init__ before its modules
    assert set(found) == {
        "app/__init__.py",
        "app/core.py",
        "app/util.py",
        "app/models/__init__.py",
        "app/models/helpers.py",  # `from .models import helpers`: a submodule
        "app/plugins/__init__.py",
        "app/plugins/first.py",
        "fast_json.py",  # imported in a top-level try
    }
    assert len(found) == len(set(found))


def test_what_it_finds_is_what_python_imports_for_a_plain_package(tmp_path: Path) -> None:
    # A class body runs at import time; the reading does not look into one (nor does the
    # package here): otherwise the two agree.
    init = PACKAGE["app/__init__.py"].replace("class Thing:\n    import in_class\n", "")
    _write(tmp_path, {**PACKAGE, "app/__init__.py": init, "app/models/helpers.py": ""})
    code = (
        "import sys, app; print('\\n'.join(sorted(m.__file__ for m in list(sys.modules.values())"
        f" if (getattr(m, '__file__', None) or '').startswith({str(tmp_path)!r}))))"
    )
    imported = subprocess.run(
        [sys.executable, "-B", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert imported.returncode == 0, imported.stderr
    found = sorted(str(p) for p in start_files(tmp_path, ["app"]))
    assert found == imported.stdout.split()


def test_relative_and_aliased_names() -> None:
    source = "import a.b as c\nfrom .. import x\nfrom ..y import z as w\nfrom . import (p,\n q)\n"
    assert imported_names(source, "pkg.sub") == [
        "a.b",
        "pkg",
        "pkg.x",
        "pkg.y",
        "pkg.y.z",
        "pkg.sub",
        "pkg.sub.p",
        "pkg.sub.q",
    ]


def test_the_roots_include_every_direct_dependency_a_project_imports(tmp_path: Path) -> None:
    from dagster_fastdeploy.runtime.bytecode import top_level_modules

    _write(
        tmp_path,
        {
            "integration/dagster_duckdb/__init__.py": "",  # an integration the project imports
            "integration/dagster_duckdb-0.1.dist-info/METADATA": "",
            "single/six.py": "",
            "single/_private.py": "",
            "single/notes.txt": "",
            "data/not_a_package/readme.md": "",
        },
    )
    found = top_level_modules([tmp_path / "integration", tmp_path / "single", tmp_path / "data"])
    assert found == ["dagster_duckdb", "six"]
