"""The redactor: the run's secret values and the masking of every text that leaves the process.

Built by the edge (secret env names, secret env files) and fed by the resource builder (decoded values,
secret-named config keys). Logs, state, errors, summaries and metric labels all go through ``mask``.
"""

from __future__ import annotations

import base64
import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
DEFAULT_SECRET_PATTERNS = ("*PASSWORD*", "*PASSWD*", "*SECRET*", "*TOKEN*", "*KEY*", "*CREDENTIAL*")
_MIN_SECRET_LEN = 4
#: settings whose names match the default patterns but whose values configure redaction itself (a module name, a
#: file path, the pattern list): masking them would only hide which hook failed in its own error messages
NOT_SECRET_SETTINGS = frozenset({"AETHERFLOW_SECRETS_MODULE", "AETHERFLOW_SECRETS_PATH", "AETHERFLOW_SECRET_PATTERNS"})


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
        """Register a secret value with its URL-encoded and base64 forms; short values are ignored."""
        if not isinstance(value, str) or len(value) < _MIN_SECRET_LEN:
            return
        forms = {value, quote(value, safe=""), quote_plus(value), base64.b64encode(value.encode()).decode()}
        new = forms - self._secrets
        if new:
            self._secrets |= new
            self._regex = None

    def add_env(self, env: Mapping[str, str]) -> None:
        """Register the values of env entries whose names match a secret pattern."""
        for name, value in env.items():
            if self.is_secret_name(name) and name.upper() not in NOT_SECRET_SETTINGS:
                self.add(value)

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
