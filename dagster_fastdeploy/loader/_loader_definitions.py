"""Definitions metadata: what a loaded code location contains, as plain JSON.

Read from Dagster's RepositoryDefinition with plain attribute access, each value guarded:
attribute names move between dagster versions, and metadata must never stop a location from
serving."""

from __future__ import annotations

import contextlib
from typing import Any, Callable


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    try:
        return getattr(obj, name)
    except Exception:
        return default


def _key(asset_key: Any) -> str:
    return "/".join(asset_key.path)


def _asset(key: Any, assets_def: Any) -> dict[str, Any]:
    spec = _attr(assets_def, "specs_by_key", {}).get(key)
    deps = sorted(_key(d.asset_key) for d in _attr(spec, "deps", None) or [])
    return {
        "key": _key(key),
        "group": _attr(spec, "group_name"),
        "deps": deps,
        "kinds": sorted(_attr(spec, "kinds", None) or []),
    }


def _assets(repo: Any) -> list[dict[str, Any]]:
    return [_asset(key, a) for key, a in repo.assets_defs_by_key.items()]


def _asset_checks(repo: Any) -> list[dict[str, Any]]:
    return [{"name": k.name, "asset": _key(k.asset_key)} for k in repo.asset_checks_defs_by_key]


def _schedules(repo: Any) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "cron": _attr(s, "cron_schedule"), "job": _attr(s, "job_name")}
        for s in repo.schedule_defs
    ]


def _sensors(repo: Any) -> list[dict[str, Any]]:
    out = []
    for sensor in repo.sensor_defs:
        jobs = sorted(t.job_name for t in _attr(sensor, "targets", None) or [])
        out.append({"name": sensor.name, "jobs": jobs})
    return out


def _resources(repo: Any) -> list[str]:
    return sorted(repo.get_top_level_resources())


def _jobs(repo: Any) -> list[str]:
    return [n for n in repo.job_names if not n.startswith("__")]  # __ASSET_JOB is Dagster's own


def _repository_name(repo: Any) -> list[str]:
    return [repo.name]


SECTIONS: dict[str, Callable[[Any], list[Any]]] = {
    "repositories": _repository_name,
    "assets": _assets,
    "asset_checks": _asset_checks,
    "jobs": _jobs,
    "schedules": _schedules,
    "sensors": _sensors,
    "resources": _resources,
}


def describe(repositories: list[Any]) -> dict[str, Any]:
    """{repositories, assets, asset_checks, jobs, schedules, sensors, resources}, summed over
    the location's repositories (one for a Definitions object)."""
    out: dict[str, list[Any]] = {section: [] for section in SECTIONS}
    for repo in repositories:
        for section, read in SECTIONS.items():
            with contextlib.suppress(Exception):  # one bad section must not hide the others
                out[section] += read(repo)
    out["assets"].sort(key=lambda a: a["key"])
    return out
