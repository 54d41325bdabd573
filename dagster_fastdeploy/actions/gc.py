"""`gc`: delete the blobs that no deployment record still needs.

A blob is kept when any location of any deployment references it from its current version or
from the versions `keep` covers (all history by default), or when it is younger than `min_age`
seconds: a deploy that is running right now may have uploaded it and not yet written its
record. Deps index entries that name a deps.pex no longer stored go too, and interrupted uploads
older than `min_age` are cleaned up. `--deployment` narrows where `--keep` applies; blobs
referenced by other deployments' histories are always kept.

A blob stored as chunks goes with its recipe; then every chunk that no remaining recipe
names goes too, unless it is younger than `min_age` (a deploy may have uploaded it and not yet
written the recipe that is its commit point). Chunks are listed before the recipes are read, so
a recipe written meanwhile by a deploy protects the new chunks it names by their age.

Damaged chunks that a reader moved to `quarantine/` are kept `min_age` seconds for a look (the
copy shows what the disk or the copy did), then deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dagster_fastdeploy.manifest import parse_pex_tag
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.records import check_name

DEFAULT_MIN_AGE = 3600.0


@dataclass
class GcResult:
    store: str
    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    kept: int = 0
    kept_young: list[str] = field(default_factory=list)
    index_entries_deleted: list[str] = field(default_factory=list)
    partial_uploads_cleaned: int = 0
    chunks_deleted: int = 0
    chunks_kept: int = 0
    quarantine_deleted: int = 0

    def to_json(self) -> dict[str, object]:
        return dict(vars(self))


def referenced_blobs(store: Store, deployment: str | None, keep: int | None) -> set[str]:
    """Blob names the kept versions of every location reference."""
    names: set[str] = set()
    for each in store.list_deployments():
        for location in store.list_locations(each):
            record = store.read_record(each, location)
            if record is None or not record.history:
                continue
            history = record.history
            if keep is not None and (deployment is None or deployment == each):
                history = history[-max(keep, 1) :]  # the current version always stays
            for entry in history:
                names.update(parse_pex_tag(entry.pex_tag))
    return names


def collect_garbage(
    store: Store,
    deployment: str | None = None,
    keep: int | None = None,
    dry_run: bool = False,
    min_age: float = DEFAULT_MIN_AGE,
) -> GcResult:
    if deployment is not None:
        check_name("deployment", deployment)
    result = GcResult(store=store.url, dry_run=dry_run)
    needed = referenced_blobs(store, deployment, keep)
    young = time.time() - min_age
    blobs = store.list_blobs()
    for blob in blobs:
        if blob.name in needed:
            result.kept += 1
        elif blob.modified > young:
            result.kept_young.append(blob.name)
        else:
            result.deleted.append(blob.name)
            result.bytes_freed += blob.size
            if not dry_run:
                store.delete_blob(blob.name)
    remaining = {blob.name for blob in blobs} - set(result.deleted)
    _collect_chunks(store, result, remaining, young, dry_run)
    for key, entry in store.list_deps_index().items():
        if (entry.get("deps") or {}).get("name") not in remaining:
            result.index_entries_deleted.append(key)
            if not dry_run:
                store.delete_deps_index(key)
    for damaged in store.list_quarantined():
        if damaged.modified <= young:
            result.quarantine_deleted += 1
            result.bytes_freed += damaged.size
            if not dry_run:
                store.delete_quarantined(damaged.name)
    if not dry_run:
        result.partial_uploads_cleaned = store.clean_partial_uploads(older_than=min_age)
    return result


def _collect_chunks(
    store: Store, result: GcResult, remaining: set[str], young: float, dry_run: bool
) -> None:
    chunks = store.list_chunks()  # before the recipes: see the module docstring
    named: set[str] = set()
    for blob in store.list_blobs():
        if blob.chunked and blob.name in remaining:
            recipe = store.read_recipe(blob.name)
            if recipe is not None:
                named.update(ref.name for ref in recipe.chunks)
    for chunk in chunks:
        if chunk.name in named or chunk.modified > young:
            result.chunks_kept += 1
        else:
            result.chunks_deleted += 1
            result.bytes_freed += chunk.size
            if not dry_run:
                store.delete_chunk(chunk.name)
