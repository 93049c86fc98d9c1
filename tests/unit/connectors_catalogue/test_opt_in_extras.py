"""The opt-in drivers: each has its own extra, which the catalogue names, and no other extra pulls it in."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from aetherflow.connectors import BUILTIN_CONNECTORS, REQUIRES

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
OPT_IN = {"db:duckdb": "duckdb", "db:oracledb": "oracle", "db:exasol": "exasol", "archive:pyminizip": "pyminizip"}


@pytest.mark.parametrize(("key", "extra"), sorted(OPT_IN.items()))
def test_an_opt_in_driver_is_catalogued_with_its_own_extra(key: str, extra: str) -> None:
    assert key in BUILTIN_CONNECTORS
    assert REQUIRES[key][1] == extra
    assert len(EXTRAS[extra]) == 1


@pytest.mark.parametrize("extra", sorted(set(OPT_IN.values())))
def test_no_other_extra_pulls_in_an_opt_in_extra(extra: str) -> None:
    package = EXTRAS[extra][0].split(">")[0].split("<")[0].split("=")[0]
    for name, requirements in EXTRAS.items():
        if name == extra:
            continue
        assert not any(extra in r.split("[")[-1] for r in requirements if r.startswith("aetherflow[")), name
        assert not any(r.startswith(package) for r in requirements), name


def test_the_program_based_archivers_need_no_extra() -> None:
    assert "archive:os" in BUILTIN_CONNECTORS and "archive:os" not in REQUIRES
    assert "archive:external" in BUILTIN_CONNECTORS and "archive:external" not in REQUIRES
