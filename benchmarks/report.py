"""Turn one benchmark run into docs/benchmarks.md (tables and ratios) and a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# (numerator, denominator, what the ratio says): computed pair by pair from the same run.
RATIOS = [
    ("image_rebuild", "source_edit", "image-style rebuild / source edit"),
    ("image_restart", "source_edit", "image-style restart / source edit"),
    ("source_edit_cold", "source_edit", "no standby / standby"),
    (
        "dagster_plus_builder",
        "source_edit",
        "Dagster+ builder (deps + source PEX, no upload, no serving) / source edit",
    ),
    ("cold_full", "source_edit", "cold full deploy / source edit"),
    ("image_rebuild", "deps_change", "image-style rebuild / dependency change"),
    ("image_rebuild", "cold_full", "image-style rebuild / cold full deploy"),
]


def ratios(scenarios: dict[str, Any]) -> dict[str, float]:
    out = {}
    for num, den, _ in RATIOS:
        a, b = scenarios.get(num, {}).get("median_s"), scenarios.get(den, {}).get("median_s")
        if a and b:
            out[f"{num}/{den}"] = round(a / b, 1)
    return out


def targets(s: dict[str, Any]) -> list[str]:
    """Where a target of issue 6 is missed, say by how much."""
    notes = []
    edit = s["source_edit"].get("median_s")
    if edit:
        verdict = "met" if edit < 0.25 else f"missed by {edit - 0.25:.3f} s"
        notes.append(f"source_edit median {edit:.3f} s against the 0.25 s target: {verdict}.")
        for base, factor in (("image_rebuild", 20), ("image_restart", 3)):
            other = s[base].get("median_s")
            if other:
                ratio = other / edit
                verdict = "met" if ratio >= factor else f"missed ({ratio:.1f}x)"
                notes.append(f"{base} / source_edit = {ratio:.1f}x against {factor}x: {verdict}.")
    notes += _deps_targets(s)
    deps = s["deps_change"]
    if deps.get("bytes_uploaded") is not None and deps.get("deps_pex_bytes"):
        notes.append(
            f"deps_change uploaded {deps['bytes_uploaded'] / 1e6:.1f} MB; the whole deps.pex is "
            f"{deps['deps_pex_bytes'] / 1e6:.1f} MB."
        )
    plus = s.get("dagster_plus_builder", {}).get("steps", {}).get("source_pex")
    ours = s["source_edit"].get("steps", {}).get("deploy.build")
    if plus and ours:
        notes.append(
            f"Source step alone: the Dagster+ builder's source.pex {plus:.2f} s, our whole "
            f"source-only build {ours:.3f} s ({plus / ours:.0f}x). The Dagster+ row builds deps "
            "and source PEX files but neither uploads nor serves them."
        )
    return notes


def _deps_targets(s: dict[str, Any]) -> list[str]:
    """Issue 13's targets: dependency changes and the cold deploy against the image rebuild."""
    notes = []
    rebuild = s.get("image_rebuild", {}).get("median_s")
    for name, limit in (("deps_change", 8.0), ("deps_change_large", 12.0)):
        median = s.get(name, {}).get("median_s")
        if median:
            verdict = "met" if median < limit else f"missed by {median - limit:.2f} s"
            notes.append(
                f"{name} median {median:.2f} s against the {limit:.0f} s target: {verdict}."
            )
    for name, factor in (("deps_change", 5), ("cold_full", 2)):
        median = s.get(name, {}).get("median_s")
        if median and rebuild:
            ratio = rebuild / median
            verdict = "met" if ratio >= factor else f"missed ({ratio:.1f}x)"
            notes.append(f"image_rebuild / {name} = {ratio:.1f}x against {factor}x: {verdict}.")
    return notes


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
            reason = " ".join(str(data["skipped"]).split())  # one table row, whatever it said
            steps = f"not measured: {reason[:300]}"
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


def render(json_path: Path, docs: Path, command: str) -> None:
    """Write benchmarks.md and benchmarks.png from a result JSON (the notes are recomputed)."""
    import json

    result = json.loads(json_path.read_text())
    kept = [n for n in result.get("notes", []) if not _is_target_note(n)]
    result["ratios"] = ratios(result["scenarios"])
    result["notes"] = kept + targets(result["scenarios"])
    chart(result, docs / "benchmarks.png")
    (docs / "benchmarks.md").write_text(markdown(result, "benchmarks.png", command))


def _is_target_note(note: str) -> bool:
    return note.startswith(
        ("source_edit median", "image_", "deps_change", "Source step", "deps_change_large")
    )


if __name__ == "__main__":
    import sys

    render(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
