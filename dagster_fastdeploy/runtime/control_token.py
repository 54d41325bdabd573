"""The warm host's control token, for the host (`serve`) and its callers (`deploy --server`,
`rollback --server`): from `--token-file`, else `$DAGSTER_FASTDEPLOY_TOKEN`."""

from __future__ import annotations

import os
from pathlib import Path

from dagster_fastdeploy.errors import HostError

TOKEN_ENV = "DAGSTER_FASTDEPLOY_TOKEN"


def read_token(token_file: Path | None) -> str | None:
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as e:
            raise HostError(f"cannot read the token file {token_file}: {e}") from e
        if not token:
            raise HostError(f"the token file {token_file} is empty: put the token in it")
        return token
    return os.environ.get(TOKEN_ENV) or None
