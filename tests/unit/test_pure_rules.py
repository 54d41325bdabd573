"""Small rules a user meets: how a dev save is described, which saved files count, which
deployment and location names a store accepts."""

from __future__ import annotations

import pytest

from dagster_fastdeploy.actions.dev import describe_changes, is_project_change
from dagster_fastdeploy.errors import InvalidNameError
from dagster_fastdeploy.store.records import check_name


def test_a_save_is_described_by_the_definitions_it_added_and_removed() -> None:
    before = {"assets": {"orders", "customers"}, "jobs": {"nightly"}}
    after = {"assets": {"orders", "invoices"}, "jobs": {"nightly"}, "schedules": {"daily"}}
    described = describe_changes(before, after)
    assert "+asset invoices" in described and "-asset customers" in described
    assert "+schedule daily" in described and "nightly" not in described
    assert describe_changes(after, after) == "no definitions changed"


@pytest.mark.parametrize(
    ("path", "counts"),
    [
        ("src/pkg/assets.py", True),
        ("src/pkg/__pycache__/assets.cpython-312.pyc", False),
        ("src/pkg/.assets.py.swp", False),
        ("src/pkg/assets.py~", False),
        ("pyproject.toml", True),
    ],
)
def test_only_saves_of_project_files_trigger_a_deploy(path: str, counts: bool) -> None:
    assert is_project_change(path) is counts


@pytest.mark.parametrize("name", ["prod", "etl-2", "team.ana_lytics", "A" * 100])
def test_plain_names_are_accepted(name: str) -> None:
    assert check_name("location", name) == name


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", ".hidden", "a b", "", "x" * 101, "é"])
def test_names_that_could_escape_the_store_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError, match="letters, digits"):
        check_name("deployment", name)
