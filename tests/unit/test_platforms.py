"""Platform tags: what a foreign target accepts, what pex and uv are told."""

from __future__ import annotations

import pytest

from dagster_fastdeploy.builder.platforms import complete_platform, parse_platform, platform_tags
from dagster_fastdeploy.builder.target import uv_platform
from dagster_fastdeploy.errors import ConfigError


def test_platform_tags_never_exceed_the_target_glibc() -> None:
    tags = platform_tags("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_31_x86_64" not in tags and "linux_x86_64" not in tags
    assert platform_tags("manylinux2014_aarch64")[0] == "manylinux_2_17_aarch64"
    assert platform_tags("musllinux_1_2_x86_64") == [
        "musllinux_1_2_x86_64",
        "musllinux_1_1_x86_64",
        "musllinux_1_0_x86_64",
    ]


def test_complete_platform_states_markers_and_tags() -> None:
    platform = complete_platform("manylinux_2_28_aarch64", "3.12.4")
    assert platform["marker_environment"]["platform_machine"] == "aarch64"
    assert platform["marker_environment"]["python_full_version"] == "3.12.4"
    assert platform["compatible_tags"][0] == "cp312-cp312-manylinux_2_28_aarch64"
    assert "py3-none-any" in platform["compatible_tags"]


def test_uv_gets_the_newest_platform_it_knows_not_newer_than_the_target() -> None:
    assert uv_platform("manylinux_2_28_x86_64") == "x86_64-manylinux_2_28"
    assert uv_platform("manylinux_2_30_x86_64") == "x86_64-manylinux_2_28"
    assert uv_platform("manylinux2014_x86_64") == "x86_64-manylinux_2_17"
    assert uv_platform("macosx_11_0_arm64") == "aarch64-apple-darwin"
    assert uv_platform("musllinux_1_2_aarch64") == "aarch64-unknown-linux-musl"


def test_legacy_manylinux_names_mean_their_glibc() -> None:
    assert parse_platform("manylinux2014_x86_64").version == (2, 17)
    assert parse_platform("manylinux2010_i686").version == (2, 12)
    assert parse_platform("manylinux1_x86_64").version == (2, 5)
    assert platform_tags("manylinux2010_x86_64")[:2] == [
        "manylinux_2_12_x86_64",
        "manylinux2010_x86_64",
    ]


@pytest.mark.parametrize("bad", ["manylinux_2_28", "win_amd64", "manylinux_2_28_sparc", "linux"])
def test_an_unknown_platform_says_what_a_platform_looks_like(bad: str) -> None:
    with pytest.raises(ConfigError, match="manylinux_2_28_x86_64"):
        uv_platform(bad)
