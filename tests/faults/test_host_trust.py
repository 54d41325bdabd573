"""A host trusts nothing it reads from the store: a record whose names would walk out of the
data dir, or whose pex tag and manifest disagree, is refused while the good version keeps
serving. A real `serve` process and real code servers."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dagster_fastdeploy.store.records import VersionEntry
from tests.fixtures_runtime import ProjectCopy

LOCATION = "example_project"


def _record(store: Any, pex_tag: str, manifest: dict[str, Any]) -> int:
    record = store.append_version(
        "prod",
        LOCATION,
        lambda n: VersionEntry(
            version=n,
            pex_tag=pex_tag,
            manifest=manifest,
            deployed_at=datetime.now(timezone.utc).isoformat(),
        ),
    )
    return int(record.current.version)


def test_a_record_naming_paths_outside_the_data_dir_or_another_pex_tag_is_refused(
    file_store: Any,
    project_copy: ProjectCopy,
    start_host: Any,
    host_data_dir: Path,
    tmp_path: Path,
) -> None:
    host = start_host(file_store)
    good = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, good.version, timeout=300).state == "serving"

    # an interpreter outside the data dir, which must never run
    fake = tmp_path / "evil" / "fake"
    ran = tmp_path / "evil" / "ran"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "python").write_text(f"#!/bin/sh\ntouch {ran}\nsleep 30\n")
    (fake / "bin" / "python").chmod(0o755)
    escape = os.path.relpath(fake, host_data_dir / "envs") + ".pex"
    manifest = dict(good.manifest, deps=dict(good.manifest["deps"], name=escape))
    pex_tag = f"files={escape}:{good.manifest['source']['name']}"
    walked_out = _record(file_store, pex_tag, manifest)

    with host.client() as control:
        answer = control.deploy(LOCATION, walked_out, timeout=120)
    assert answer.state == "failed"
    assert "cannot be served" in answer.error.message
    assert "not deps-<sha256>.pex" in answer.error.message
    assert answer.serving_version == good.version
    assert not ran.exists()

    # a pex tag that names other files than the manifest: status would show one, serve another
    other = "files=deps-" + "0" * 64 + ".pex:source-" + "1" * 64 + ".pex"
    mismatched = _record(file_store, other, good.manifest)
    with host.client() as control:
        answer = control.deploy(LOCATION, mismatched, timeout=120)
    assert answer.state == "failed"
    assert "name different files" in answer.error.message
    assert answer.serving_version == good.version
