"""The edit -> deploy -> live benchmark: `python -m benchmarks.loop [--quick] [--json FILE]`."""
