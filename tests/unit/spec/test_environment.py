"""The env snapshot (resources-and-profiles.md §5): process env, env files, expand_env, runner keys; immutable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from aetherflow.errors import InputError
from aetherflow.redaction import Redactor
from aetherflow.settings import Settings
from aetherflow.spec.environment import build_env_snapshot, runner_env_keys


def _snapshot(environ: dict[str, str] | None = None, redactor: Redactor | None = None, **settings: Any) -> Any:
    return build_env_snapshot(environ or {}, Settings(**settings), redactor if redactor is not None else Redactor())


def test_snapshot_starts_from_the_process_env_and_is_read_only() -> None:
    env = _snapshot({"A": "1"})

    assert dict(env) == {"A": "1"}
    assert isinstance(env, MappingProxyType)
    with pytest.raises(TypeError):
        env["B"] = "2"  # type: ignore[index]


def test_building_the_snapshot_never_touches_os_environ(tmp_path: Path) -> None:
    dotenv = tmp_path / "x.env"
    dotenv.write_text("AETHERFLOW_TEST_ONLY_KEY=1\n")
    before = dict(os.environ)

    build_env_snapshot(os.environ, Settings(env_files=[str(dotenv)]), Redactor(), extra={"AETHERFLOW_TEST_X": "y"})

    assert dict(os.environ) == before


def test_dotenv_rules(tmp_path: Path) -> None:
    dotenv = tmp_path / "app.env"
    dotenv.write_text(
        "# comment\n\n  A = 1 \nB=\"two words\"\nC='single'\nD=a=b\nno equals sign\nexport E=x\nF=\"unbalanced'\n",
        encoding="utf-8",
    )

    env = _snapshot(env_files_json=[str(dotenv)])

    assert dict(env) == {"A": "1", "B": "two words", "C": "single", "D": "a=b", "E": "x", "F": "\"unbalanced'"}


def test_json_rules(tmp_path: Path) -> None:
    path = tmp_path / "values.json"
    path.write_text(json.dumps({"S": "text", "N": 5, "F": 1.5, "B": True, "Z": None, "O": {"k": [1]}, "L": ["é"]}))

    env = _snapshot(env_files_json=[str(path)])

    assert dict(env) == {"S": "text", "N": "5", "F": "1.5", "B": "true", "O": '{"k": [1]}', "L": '["é"]'}


def test_json_file_that_is_not_an_object_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "values.json"
    path.write_text("[1, 2]")

    with pytest.raises(InputError, match="must hold a JSON object"):
        _snapshot(env_files_json=[str(path)])


def test_dir_rules_skip_hidden_entries_and_subdirectories(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "..data").mkdir(parents=True)
    (secrets / "sub").mkdir()
    (secrets / "DB_PASSWORD").write_text("s3cret\n\n")
    (secrets / "API_KEY").write_text("k-1")
    (secrets / ".hidden").write_text("no")
    (secrets / "sub" / "NESTED").write_text("no")

    env = _snapshot(env_files_json=[{"type": "directory", "path": str(secrets)}])

    assert dict(env) == {"API_KEY": "k-1", "DB_PASSWORD": "s3cret"}


def test_string_items_infer_their_type(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "FROM_DIR").write_text("1")
    (tmp_path / "v.json").write_text('{"FROM_JSON": "2"}')
    (tmp_path / "v.env").write_text("FROM_DOTENV=3\n")

    env = _snapshot(env_files_json=[str(tmp_path / "d"), str(tmp_path / "v.json"), str(tmp_path / "v.env")])

    assert dict(env) == {"FROM_DIR": "1", "FROM_JSON": "2", "FROM_DOTENV": "3"}


def test_format_is_an_alias_of_type_and_prefix_is_prepended(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text('{"HOST": "db"}')

    env = _snapshot(env_files_json=[{"format": "json", "path": str(path), "prefix": "DWH_"}])

    assert dict(env) == {"DWH_HOST": "db"}


def test_later_sources_override_earlier_ones_and_files_override_process_env(tmp_path: Path) -> None:
    first, second, bundle = tmp_path / "1.env", tmp_path / "2.env", tmp_path / "b.env"
    first.write_text("K=json\nONLY_JSON=1\n")
    second.write_text("K=files\n")
    bundle.write_text("K=bundle\n")

    env = build_env_snapshot(
        {"K": "process", "P": "p"},
        Settings(env_files_json=[str(first)], env_files=[str(second)]),
        Redactor(),
        bundle_env_files=["b.env"],
        bundle_root=str(tmp_path),
    )

    assert dict(env) == {"K": "bundle", "P": "p", "ONLY_JSON": "1"}


def test_expand_env_sees_everything_and_runner_keys_win(tmp_path: Path) -> None:
    seen: dict[str, str] = {}

    def expand(env: dict[str, str]) -> dict[str, str]:
        seen.update(env)
        return {**env, "EXPANDED": env["A"] + "!", "AETHERFLOW_LOCAL_ROOT_DIR": "from-hook"}

    env = build_env_snapshot({"A": "a"}, Settings(), Redactor(), expand=expand, extra=runner_env_keys("/work"))

    assert seen == {"A": "a"}
    assert env["EXPANDED"] == "a!"
    assert (env["AETHERFLOW_LOCAL_ROOT_DIR"], env["AETHERFLOW_ACTIVE_DIR"], env["AETHERFLOW_CACHE_DIR"]) == (
        "/work",
        "/work",
        "/work",
    )


def test_missing_env_file_is_an_input_error_unless_optional(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.env")

    with pytest.raises(InputError) as raised:
        _snapshot(env_files_json=[missing])
    assert str(raised.value) == f"Env file not found: {missing}"
    assert raised.value.issue.code == "settings:invalid"
    assert dict(_snapshot(env_files_json=[{"path": missing, "optional": True}])) == {}


def test_unknown_type_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^Unsupported env_files type: yaml$"):
        _snapshot(env_files_json=[{"type": "yaml", "path": str(tmp_path / "x")}])


def test_env_files_items_are_secret_by_default_and_json_items_are_not(tmp_path: Path) -> None:
    mounted, plain = tmp_path / "mounted.env", tmp_path / "plain.env"
    mounted.write_text("HOST_A=alpha-host-value\n")
    plain.write_text("HOST_B=bravo-host-value\n")
    redactor = Redactor()

    _snapshot(redactor=redactor, env_files=[str(mounted)], env_files_json=[str(plain)])

    assert redactor.mask("alpha-host-value bravo-host-value") == "*** bravo-host-value"


def test_secret_flag_can_be_set_per_item(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("HOST=charlie-host-value\n")
    redactor = Redactor()

    _snapshot(redactor=redactor, env_files_json=[{"path": str(path), "secret": True}])

    assert redactor.mask("charlie-host-value") == "***"


def test_values_of_secret_named_variables_are_registered() -> None:
    redactor = Redactor()

    _snapshot({"DB_PASSWORD": "hunter22", "HOME": "/root"}, redactor=redactor)

    assert redactor.mask("pw=hunter22 home=/root") == "pw=*** home=/root"


def test_an_item_without_path_or_with_unknown_keys_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs a non-empty 'path'"):
        _snapshot(env_files_json=[{"type": "dotenv"}])
    with pytest.raises(InputError, match="unknown env-file key"):
        _snapshot(env_files_json=[{"path": str(tmp_path), "optinal": True}])
