"""Turning a load failure into what the user needs: their file, their line, their traceback."""

from __future__ import annotations

import os
import traceback
from typing import Any


def _user_exception(exc: BaseException) -> BaseException:
    """Dagster wraps the user's exception (DagsterUserCodeLoadError, `raise ... from e`): find
    the innermost exception of the chain, which is the one the user's code raised."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "user_exception", None) or current.__cause__ or current.__context__
        if inner is None or not isinstance(inner, BaseException):
            break
        current = inner
    return current


def _is_under(path: str, roots: list[str]) -> bool:
    path = os.path.abspath(path)
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def describe_load_error(exc: BaseException, user_roots: list[str]) -> dict[str, Any]:
    """{type, message, file, line, traceback}: file and line point into the user's code when
    the failure is there (a SyntaxError's own location, else the deepest frame in user files)."""
    user_exc = _user_exception(exc)
    file = line = None
    if isinstance(user_exc, SyntaxError) and user_exc.filename:
        file, line = user_exc.filename, user_exc.lineno
    else:
        frames = traceback.extract_tb(user_exc.__traceback__)
        in_user_code = [f for f in frames if _is_under(f.filename, user_roots)]
        real_files = [f for f in frames if not f.filename.startswith("<")]
        chosen = (in_user_code or real_files or [None])[-1]
        if chosen is not None:
            file, line = chosen.filename, chosen.lineno
    text = "".join(traceback.format_exception(type(user_exc), user_exc, user_exc.__traceback__))
    return {
        "type": type(user_exc).__name__,
        "message": str(user_exc),
        "file": file,
        "line": line,
        "traceback": text[-8000:],
    }
