"""The fault suite (docs/reliability.md): every test here is marked `faults`, so
`pytest -m faults` runs it together with the fault tests that live beside their feature."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/faults/" in str(item.path):
            item.add_marker(pytest.mark.faults)
