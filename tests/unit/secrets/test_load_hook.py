"""The secrets hook loader (resources-and-profiles.md §4), in-process: forms, contract, errors, redaction, caching."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from aetherflow.errors import ExitCode, InputError
from aetherflow.redaction import Redactor
from aetherflow.settings import Settings
from aetherflow.spec.secrets import load_secrets_hook

CANARY = "hook-canary-7Hq2"

DECODER = """
import base64

PREFIX = "enc:"


def decode(value):
    return base64.b64decode(value.removeprefix(PREFIX)).decode()


def expand_env(env):
    out = dict(env)
    out["EXPANDED"] = "yes"
    return out
"""


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> str:
    """Write ``body`` as a uniquely named importable module (the loader caches by name for the process)."""
    name = f"hook_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"hook_{uuid.uuid4().hex}.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_no_hook_is_configured_by_default() -> None:
    assert load_secrets_hook(Settings()) is None


def test_module_form_exposes_decode_and_expand_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _module(tmp_path, monkeypatch, DECODER)

    hook = load_secrets_hook(Settings(secrets_module=name))

    assert hook is not None
    assert hook.origin == f"module:{name}"
    assert hook.decode("enc:c2VjcmV0LXZhbHVl") == "secret-value"
    assert hook.expand_env({"A": "1"}) == {"A": "1", "EXPANDED": "yes"}
    assert hook.warnings == ()


def test_path_form_loads_a_python_file(tmp_path: Path) -> None:
    path = _file(tmp_path, DECODER)

    hook = load_secrets_hook(Settings(secrets_path=str(path)))

    assert hook is not None
    assert hook.origin == f"path:{path}"
    assert hook.decode("enc:YWJjZA==") == "abcd"


def test_a_hook_without_expand_env_leaves_the_env_unchanged(tmp_path: Path) -> None:
    hook = load_secrets_hook(
        Settings(secrets_path=str(_file(tmp_path, "def decode(value):\n    return value[::-1]\n")))
    )

    assert hook is not None
    assert not hook.has_expand_env
    assert hook.expand_env({"A": "1"}) == {"A": "1"}


def test_module_wins_over_path_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _module(tmp_path, monkeypatch, "def decode(value):\n    return 'from-module'\n")
    path = _file(tmp_path, "def decode(value):\n    return 'from-path'\n")

    hook = load_secrets_hook(Settings(secrets_module=name, secrets_path=str(path)))

    assert hook is not None
    assert hook.decode("x") == "from-module"
    assert [(w.code, w.loc) for w in hook.warnings] == [("settings:secrets_hook_conflict", "AETHERFLOW_SECRETS_PATH")]
    assert name in hook.warnings[0].msg


def test_public_helpers_are_refused_with_the_spec_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _module(
        tmp_path,
        monkeypatch,
        """
        from base64 import b64decode

        LIMIT = 3


        def helper(value):
            return value


        class Vault:
            pass


        def _private(value):
            return value


        def decode(value):
            return value
        """,
    )

    with pytest.raises(InputError) as caught:
        load_secrets_hook(Settings(secrets_module=name))

    assert str(caught.value) == (
        f"Secrets hook module:{name} defines unsupported public callables: ['Vault', 'b64decode', 'helper']. "
        "Only 'decode' and optional 'expand_env' are allowed (helpers must be private, e.g. _helper())."
    )
    assert caught.value.issue.code == "settings:invalid"
    assert caught.value.issue.loc == "AETHERFLOW_SECRETS_MODULE"
    assert caught.value.exit_code == ExitCode.INVALID


def test_decode_is_required(tmp_path: Path) -> None:
    path = _file(tmp_path, "def expand_env(env):\n    return env\n")

    with pytest.raises(InputError, match=r"must define a callable decode\(value: str\) -> str"):
        load_secrets_hook(Settings(secrets_path=str(path)))


def test_a_missing_hook_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"Secrets hook file not found: .*nope\.py") as caught:
        load_secrets_hook(Settings(secrets_path=str(tmp_path / "nope.py")))

    assert caught.value.issue.loc == "AETHERFLOW_SECRETS_PATH"


def test_an_unimportable_module_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        load_secrets_hook(Settings(secrets_module="aetherflow_no_such_hook_module"))

    assert str(caught.value) == (
        "Secrets hook module:aetherflow_no_such_hook_module could not be imported: "
        "ModuleNotFoundError: No module named 'aetherflow_no_such_hook_module'"
    )


def test_a_failing_module_body_is_reported_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path, "import os\nraise RuntimeError('cannot reach vault with ' + os.environ['VAULT_TOKEN'])\n")
    monkeypatch.setenv("VAULT_TOKEN", CANARY)

    with pytest.raises(InputError) as caught:
        load_secrets_hook(Settings(secrets_path=str(path)), redactor=Redactor(), environ={"VAULT_TOKEN": CANARY})

    assert CANARY not in str(caught.value)
    assert (
        str(caught.value) == f"Secrets hook path:{path} could not be loaded: RuntimeError: cannot reach vault with ***"
    )


def test_decode_failures_are_input_errors_with_the_value_redacted(tmp_path: Path) -> None:
    path = _file(tmp_path, "def decode(value):\n    raise ValueError('bad ciphertext: ' + value)\n")
    hook = load_secrets_hook(Settings(secrets_path=str(path)), redactor=Redactor())
    assert hook is not None

    with pytest.raises(InputError) as caught:
        hook.decode(CANARY)

    assert str(caught.value) == f"Secrets hook path:{path} decode() failed: ValueError: bad ciphertext: ***"
    assert caught.value.exit_code == ExitCode.INVALID


def test_decoded_values_and_their_inputs_become_secrets(tmp_path: Path) -> None:
    redactor = Redactor()
    hook = load_secrets_hook(Settings(secrets_path=str(_file(tmp_path, DECODER))), redactor=redactor)
    assert hook is not None

    hook.decode("enc:c2VjcmV0LXZhbHVl")

    assert redactor.mask("a secret-value and enc:c2VjcmV0LXZhbHVl") == "a *** and ***"


def test_decode_must_return_a_string(tmp_path: Path) -> None:
    hook = load_secrets_hook(Settings(secrets_path=str(_file(tmp_path, "def decode(value):\n    return 42\n"))))
    assert hook is not None

    with pytest.raises(InputError, match=r"decode\(\) returned int, expected a string"):
        hook.decode("x")


def test_expand_env_failures_are_redacted_with_the_secret_env_values_known(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "def decode(value):\n    return value\n\n\ndef expand_env(env):\n    raise KeyError(env['DB_PASSWORD'])\n",
    )
    hook = load_secrets_hook(Settings(secrets_path=str(path)), redactor=Redactor())
    assert hook is not None

    with pytest.raises(InputError) as caught:
        hook.expand_env({"DB_PASSWORD": CANARY})

    assert CANARY not in str(caught.value)
    assert "expand_env() failed: KeyError" in str(caught.value)


def test_expand_env_must_return_a_mapping_of_strings(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "def decode(value):\n    return value\n\n\ndef expand_env(env):\n    return {**env, 'PORT': 5432}\n",
    )
    hook = load_secrets_hook(Settings(secrets_path=str(path)))
    assert hook is not None

    with pytest.raises(InputError, match="expand_env\\(\\) must return str -> str; non-string key or value for 'PORT'"):
        hook.expand_env({"A": "1"})


def test_the_hook_is_loaded_once_per_process(tmp_path: Path) -> None:
    counter = tmp_path / "loads.txt"
    path = _file(
        tmp_path,
        f"with open({str(counter)!r}, 'a') as _f:\n    _f.write('loaded\\n')\n\n\n"
        "def decode(value):\n    return value\n",
    )

    first = load_secrets_hook(Settings(secrets_path=str(path)))
    second = load_secrets_hook(Settings(secrets_path=str(path)))

    assert first is not None and second is not None
    assert counter.read_text().splitlines() == ["loaded"]
