"""Turn one benchmark run into docs/benchmarks.md (tables and ratios) and a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# (numerator, denominator, what the ratio says): computed pair by pair from the same run.
RATIOS = [
    ("image_rebuild", "source_edit", "image-style rebuild / source edit"),
    ("image_restart", "source_edit", "image-style restart / source edit"),
    ("source_edit_cold", "source_edit", "no standby / standby"),
    ("dagster_plus_builder", "source_edit", "Dagster+ builder (deps+source PEX) / source edit"),
    ("cold_full", "source_edit", "cold full deploy / source edit"),
]


def ratios(scenarios: dict[str, Any]) -> dict[str, float]:
    out = {}
    for num, den, _ in RATIOS:
        a, b = scenarios.get(num, {}).get("median_s"), scenarios.get(den, {}).get("median_s")
        if a and b:
            out[f"{num}/{den}"] = round(a / b, 1)
    return out


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown(result: dict[str, Any], chart: str, command: str) -> str:
    machine = result["machine"]
    lines = [
        "# Benchmarks: edit → deploy → live",
        "",
        f"Measured by `{command}` on {machine['date']}: {machine['cpu_count']} CPUs, "
        f"Python {machine['python']}, dagster {machine.get('dagster', '?')}, "
        f"{'quick run' if result.get('quick') else 'full run'}. These machines are shared and "
        "noisy: compare the ratios from one run, not figures across runs.",
        "",
        f"![scenarios side by side]({chart})",
        "",
        "| scenario | median s | min s | max s | runs | uploaded | steps (median s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, data in result["scenarios"].items():
        steps = ", ".join(f"{k} {v:.3f}" for k, v in data.get("steps", {}).items())
        uploaded = data.get("bytes_uploaded")
        up = f"{uploaded / 1e6:.2f} MB" if uploaded is not None else ""
        if data.get("skipped"):
            steps = f"not measured: {data['skipped']}"
        lines.append(
            f"| `{name}` | {_fmt(data.get('median_s'))} | {_fmt(data.get('min_s'))} | "
            f"{_fmt(data.get('max_s'))} | {data.get('runs', 0)} | {up} | {steps} |"
        )
    lines += ["", "## Ratios (same run)", "", "| ratio | value |", "|---|---|"]
    labels = {f"{n}/{d}": label for n, d, label in RATIOS}
    for key, value in result.get("ratios", {}).items():
        lines.append(f"| {labels.get(key, key)} | {value}× |")
    notes = result.get("notes", [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    memory = result["scenarios"].get("many_locations", {}).get("memory")
    if memory:
        lines += ["", "## Ten locations on one host", "", "```", _memory_text(memory), "```"]
    return "\n".join(lines) + "\n"


def _memory_text(memory: dict[str, Any]) -> str:
    import json

    return json.dumps(memory, indent=2, sort_keys=True)


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, d in result["scenarios"].items() if d.get("median_s")]
    medians = [result["scenarios"][n]["median_s"] for n in names]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bars = ax.barh(names, medians, color="#4f43dd")
    ax.set_xscale("log")
    ax.set_xlabel("median seconds (log scale)")
    ax.set_title(f"edit → deploy → live, {result['machine']['cpu_count']} CPUs")
    for bar, value in zip(bars, medians):
        ax.text(value, bar.get_y() + bar.get_height() / 2, f" {value:.2f}s", va="center")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
