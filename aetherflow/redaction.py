"""The redactor: the run's secret values and the masking of every text that leaves the process.

Built by the edge from the settings (phase 1), fed with secret env names and secret env files (phase 2), then by
the resource builder (decoded values, secret-named config keys, profiles) and the runner (rendered step inputs).
Besides whole secret values it learns the secrets hidden in ordinary ones: URL passwords, secret-named query
parameters, auth header credentials, ``user:password`` base64, and the body lines of multi-line values. Logs, state,
errors, summaries, the metrics hook and metric labels all go through ``mask``; ``truncate`` cuts text without
leaving the beginning of a secret behind.
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

from aetherflow.secret_forms import (
    AUTH_HEADERS,
    basic_forms,
    credential_forms,
    is_registrable,
    pem_body_lines,
    url_secrets,
)

MASK = "***"
DEFAULT_SECRET_PATTERNS = ("*PASSWORD*", "*PASSWD*", "*SECRET*", "*TOKEN*", "*KEY*", "*CREDENTIAL*")
#: settings whose names match the default patterns but whose values configure redaction itself (a module name, a
#: file path, the pattern list): masking them would only hide which hook failed in its own error messages
NOT_SECRET_SETTINGS = frozenset({"AETHERFLOW_SECRETS_MODULE", "AETHERFLOW_SECRETS_PATH", "AETHERFLOW_SECRET_PATTERNS"})


class _SettingsLike(Protocol):
    @property
    def secret_pattern_list(self) -> list[str]: ...


class Redactor:
    """Holds secret strings and replaces every occurrence with ``***`` (longest first)."""

    def __init__(self, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> None:
        self._patterns = tuple(p.strip().upper() for p in patterns if p.strip())
        self._secrets: set[str] = set()
        self._regex: re.Pattern[str] | None = None

    def is_secret_name(self, name: str) -> bool:
        """True when an env or config key name matches one of the secret patterns (case-insensitive)."""
        upper = name.upper()
        return any(fnmatch.fnmatchcase(upper, p) for p in self._patterns)

    def add(self, value: object) -> None:
        """Register a secret value with its URL-encoded, base64 and escaped forms, its body lines when it spans several
        lines (a PEM key is logged line by line), and the secrets inside it; values never masked are ignored."""
        if not isinstance(value, str) or not is_registrable(value):
            return
        forms = {value, quote(value, safe=""), quote_plus(value), base64.b64encode(value.encode()).decode()}
        # the escaped forms a secret takes inside texts made by others: Python reprs in exception messages, JSON
        forms |= {repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
        new = forms - self._secrets
        if not new:
            return
        self._secrets |= new
        self._regex = None
        if "\n" in value or "\r" in value:
            for line in pem_body_lines(value):
                self.add(line)
        self.add_value_forms(value)

    def add_value_forms(self, value: object) -> None:
        """Register the secrets inside a value that is not secret as a whole: the password of a URL with userinfo,
        the ``user:password`` base64 of it, and query parameters named like secrets."""
        if isinstance(value, str) and ("=" in value or "@" in value):
            for secret in url_secrets(value, self.is_secret_name):
                self.add(secret)

    def add_keyed(self, key: str, value: object) -> None:
        """Register a config, header or env value by its key: the whole value when the key is secret-named or an
        ``Authorization`` header (with the credentials after the scheme), else only the secrets inside it."""
        if not isinstance(value, str):
            return
        if key.upper() in AUTH_HEADERS or (self.is_secret_name(key) and key.upper() not in NOT_SECRET_SETTINGS):
            self.add(value)
            for part in credential_forms(value):
                self.add(part)
        else:
            self.add_value_forms(value)

    def add_basic_pair(self, user: object, password: object) -> None:
        """Register the base64 ``user:password`` a basic-auth client sends (the password is registered on its own)."""
        if isinstance(user, str) and isinstance(password, str) and is_registrable(password):
            for form in basic_forms(user, password):
                self.add(form)

    def add_env(self, env: Mapping[str, str]) -> None:
        """Register the values of env entries whose names match a secret pattern, and the secrets inside any other."""
        for name, value in env.items():
            self.add_keyed(name, value)

    @classmethod
    def for_settings(cls, settings: _SettingsLike) -> Redactor:
        """A redactor with the settings' secret patterns that already knows the secrets inside the settings."""
        redactor = cls(settings.secret_pattern_list)
        redactor.add_settings(settings)
        return redactor

    def add_settings(self, settings: object) -> None:
        """Register the secrets of a settings object by their variable names: a Pushgateway URL's password is known
        before the first line is logged. Accepts a dataclass, a pydantic model or any object with attributes."""
        for name, value in _setting_items(settings):
            self.add_keyed(f"AETHERFLOW_{name.upper()}", value)

    def truncate(self, text: str, limit: int) -> str:
        """The first ``limit`` characters of ``text`` at most, shortened so that they never end with the beginning
        of a secret (a cut secret would escape masking). The result is not masked."""
        end = max(0, min(limit, len(text)))
        if not self._secrets:
            return text[:end]
        secrets = list(self._secrets)  # a copy: another thread may register a value meanwhile
        while (start := _partial_secret_start(text, end, secrets)) is not None:
            end = start
        return text[:end]

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def mask(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        if not self._secrets or not text:
            return text
        if self._regex is None:
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._regex = re.compile("|".join(re.escape(s) for s in ordered))
        return self._regex.sub(MASK, text)

    def mask_obj(self, value: Any) -> Any:
        """A copy of a JSON-like structure with every string masked (keys included)."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {self.mask(str(k)) if isinstance(k, str) else k: self.mask_obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_obj(v) for v in value]
        return value


def _partial_secret_start(text: str, end: int, secrets: list[str]) -> int | None:
    """The smallest index from which ``text[:end]`` ends with a proper prefix of one of ``secrets``, if any."""
    best: int | None = None
    for secret in secrets:
        first = secret[0]
        pos = text.find(first, max(0, end - len(secret) + 1), end)
        while pos >= 0 and (best is None or pos < best):
            if secret.startswith(text[pos:end]):
                best = pos
                break
            pos = text.find(first, pos + 1, end)
    return best


def _setting_items(settings: object) -> Iterable[tuple[str, object]]:
    if dataclasses.is_dataclass(settings):
        return [(item.name, getattr(settings, item.name)) for item in dataclasses.fields(settings)]
    dump = getattr(settings, "model_dump", None)
    if callable(dump):
        return list(dict(dump()).items())
    return list(getattr(settings, "__dict__", {}).items())
