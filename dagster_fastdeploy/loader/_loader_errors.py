"""Turning a load failure into what the user needs: their own file (the path in their project,
not the materialized copy the code server runs), the line, the offending line of code, and a
traceback of their frames only."""

from __future__ import annotations

import linecache
import os
import traceback
from typing import Any

# source.pex keeps the project directory under this folder (Dagster+ Serverless's layout)
PROJECT_IN_SOURCE = os.path.join("working_directory", "root")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those behind it, outermost first. Dagster wraps the user's exception
    (DagsterUserCodeLoadError with `user_exception`, `raise ... from e`)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        inner = getattr(current, "user_exception", None) or current.__cause__
        if inner is None and not current.__suppress_context__:
            inner = current.__context__
        current = inner if isinstance(inner, BaseException) else None
    return chain


def _is_under(path: str, roots: list[str]) -> bool:
    if path.startswith("<"):  # <string>, <frozen importlib._bootstrap>: not a file
        return False
    path = os.path.abspath(path)
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _user_frames(exc: BaseException, roots: list[str]) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(exc.__traceback__) if _is_under(f.filename, roots)]


def _user_location(exc: BaseException, roots: list[str]) -> tuple[str, int | None] | None:
    """Where in the user's files `exc` happened: a SyntaxError's own location, else the deepest
    traceback frame in a user file."""
    if isinstance(exc, SyntaxError) and exc.filename and _is_under(exc.filename, roots):
        return exc.filename, exc.lineno
    frames = _user_frames(exc, roots)
    return (frames[-1].filename, frames[-1].lineno) if frames else None


class ProjectPaths:
    """Maps a file of the materialized source (`<source>/<package>/x.py` from the project's
    wheel, `<source>/working_directory/root/<path>`) to its path in the user's project."""

    def __init__(self, roots: list[str]):
        self.source_dirs = [r for r in roots if os.path.isdir(os.path.join(r, PROJECT_IN_SOURCE))]

    def project_path(self, path: str) -> str:
        path = os.path.abspath(path)
        for source in self.source_dirs:
            if not path.startswith(source.rstrip(os.sep) + os.sep):
                continue
            project = os.path.join(source, PROJECT_IN_SOURCE)
            rel = os.path.relpath(path, source)
            if not rel.startswith(".."):
                inside = os.path.relpath(path, project)
                if not inside.startswith(".."):
                    return inside
                return self._find_in_project(project, rel) or rel
        return path

    @staticmethod
    def _find_in_project(project: str, rel: str) -> str | None:
        """The project file a wheel's `rel` came from: src/<rel>, <rel>, else the shortest path
        in the project ending with it."""
        for candidate in (os.path.join("src", rel), rel):
            if os.path.isfile(os.path.join(project, candidate)):
                return candidate
        found = []
        for top, dirs, files in os.walk(project):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            for name in files:
                full = os.path.relpath(os.path.join(top, name), project)
                if full.endswith(os.sep + rel):
                    found.append(full)
        return min(found, key=len) if found else None


def _readable_traceback(
    exc: BaseException, roots: list[str], paths: ProjectPaths
) -> tuple[str, str | None]:
    """(traceback of the user's frames with project paths, the offending line of code)."""
    frames = _user_frames(exc, roots)
    lines = []
    code = None
    if frames:
        lines.append("Traceback (most recent call last; your code only):\n")
        for frame in frames:
            lines.append(
                f'  File "{paths.project_path(frame.filename)}", line {frame.lineno}, '
                f"in {frame.name}\n"
            )
            if frame.line:
                lines.append(f"    {frame.line.strip()}\n")
        code = frames[-1].line
    only = traceback.format_exception_only(type(exc), exc)
    if isinstance(exc, SyntaxError) and exc.filename:
        mapped = paths.project_path(exc.filename)
        only = [part.replace(exc.filename, mapped) for part in only]
        text = exc.text or linecache.getline(exc.filename, exc.lineno or 0)
        code = text.strip("\n") if text else code
    lines.extend(only)
    return "".join(lines), (code.strip() if code else None)


def describe_load_error(exc: BaseException, user_roots: list[str]) -> dict[str, Any]:
    """{type, message, file, line, code, traceback, materialized_file, full_traceback} of the
    innermost exception that points into the user's files (else the innermost one). `file` is
    the path in the user's project, `line` and `code` the line; `traceback` keeps the user's
    frames only. `file`, `line`, `code` are None when no user file is involved."""
    chain = _chain(exc)
    chosen, where = chain[-1], None
    for candidate in reversed(chain):
        where = _user_location(candidate, user_roots)
        if where is not None:
            chosen = candidate
            break
    paths = ProjectPaths(user_roots)
    full = "".join(traceback.format_exception(type(chosen), chosen, chosen.__traceback__))
    readable, code = _readable_traceback(chosen, user_roots, paths)
    return {
        "type": type(chosen).__name__,
        "message": str(chosen),
        "file": paths.project_path(where[0]) if where else None,
        "line": where[1] if where else None,
        "code": code if where else None,
        "traceback": readable if where else full[-8000:],
        "materialized_file": where[0] if where else None,
        "full_traceback": full[-8000:],
    }
