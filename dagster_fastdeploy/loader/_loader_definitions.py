"""Definitions metadata: what a loaded code location contains, as plain JSON."""

from __future__ import annotations

from typing import Any, Callable


def _safe(fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
    except Exception:  # metadata must never stop a location from serving
        return default


def _key(asset_key: Any) -> str:
    return "/".join(asset_key.path)


def _assets(repo: Any) -> list[dict[str, Any]]:
    out = []
    for key, assets_def in repo.assets_defs_by_key.items():
        spec = _safe(lambda a=assets_def, k=key: a.specs_by_key[k], None)
        deps = _safe(lambda s=spec: sorted(_key(d.asset_key) for d in s.deps), [])
        out.append(
            {
                "key": _key(key),
                "group": _safe(lambda s=spec: s.group_name, None),
                "deps": deps,
                "kinds": _safe(lambda s=spec: sorted(s.kinds), []),
            }
        )
    return out


def _asset_checks(repo: Any) -> list[dict[str, Any]]:
    keys = _safe(lambda: list(repo.asset_checks_defs_by_key), [])
    return [{"name": k.name, "asset": _key(k.asset_key)} for k in keys]


def _schedules(repo: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "cron": _safe(lambda s=s: s.cron_schedule, None),
            "job": _safe(lambda s=s: s.job_name, None),
        }
        for s in repo.schedule_defs
    ]


def _sensors(repo: Any) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "jobs": _safe(lambda s=s: sorted(t.job_name for t in s.targets), [])}
        for s in repo.sensor_defs
    ]


def _resources(repo: Any) -> list[str]:
    return sorted(_safe(lambda: repo.get_top_level_resources(), {}))


def describe(repositories: list[Any]) -> dict[str, Any]:
    """{repositories, assets, asset_checks, jobs, schedules, sensors, resources}, summed over
    the location's repositories (one for a Definitions object)."""
    out: dict[str, Any] = {
        "repositories": [],
        "assets": [],
        "asset_checks": [],
        "jobs": [],
        "schedules": [],
        "sensors": [],
        "resources": [],
    }
    for repo in repositories:
        out["repositories"].append(repo.name)
        out["assets"] += _safe(lambda r=repo: _assets(r), [])
        out["asset_checks"] += _safe(lambda r=repo: _asset_checks(r), [])
        out["jobs"] += [n for n in _safe(lambda r=repo: r.job_names, []) if not n.startswith("__")]
        out["schedules"] += _safe(lambda r=repo: _schedules(r), [])
        out["sensors"] += _safe(lambda r=repo: _sensors(r), [])
        out["resources"] += _safe(lambda r=repo: _resources(r), [])
    out["assets"].sort(key=lambda a: a["key"])
    return out
