"""Turning a load failure into what the user needs: their file, their line, their traceback."""

from __future__ import annotations

import os
import traceback
from typing import Any


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


def _user_location(exc: BaseException, roots: list[str]) -> tuple[str, int | None] | None:
    """Where in the user's files `exc` happened: a SyntaxError's own location, else the deepest
    traceback frame in a user file."""
    if isinstance(exc, SyntaxError) and exc.filename and _is_under(exc.filename, roots):
        return exc.filename, exc.lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_under(f.filename, roots)]
    return (frames[-1].filename, frames[-1].lineno) if frames else None


def describe_load_error(exc: BaseException, user_roots: list[str]) -> dict[str, Any]:
    """{type, message, file, line, traceback} of the innermost exception that points into the
    user's files (else the innermost one); file and line are None when no user file is involved."""
    chain = _chain(exc)
    chosen, where = chain[-1], None
    for candidate in reversed(chain):
        where = _user_location(candidate, user_roots)
        if where is not None:
            chosen = candidate
            break
    text = "".join(traceback.format_exception(type(chosen), chosen, chosen.__traceback__))
    return {
        "type": type(chosen).__name__,
        "message": str(chosen),
        "file": where[0] if where else None,
        "line": where[1] if where else None,
        "traceback": text[-8000:],
    }
