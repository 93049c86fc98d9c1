"""The single strict template parser: ``{{PATH}}`` and ``{{PATH:DEFAULT}}``, nothing else.

See docs/reference/templating.md.

Validation (``aetherflow.plan``) and the runner both call :func:`parse` / :func:`render` from here, so a string that
validates is exactly a string that renders. Parsing is memoised because the runner renders the same step inputs on
every run and attempt; rendering a parsed :class:`Template` is a dictionary walk per token.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aetherflow.errors import TemplateMissingKey, TemplateSyntaxError

__all__ = [
    "ENV_ROOTS",
    "STEP_ROOTS",
    "Template",
    "Token",
    "has_template",
    "iter_strings",
    "parse",
    "render",
]

#: Roots allowed in flow meta, resources and profiles (rendered once at run start).
ENV_ROOTS: Final[frozenset[str]] = frozenset({"env"})
#: Roots allowed in step inputs and outputs.
STEP_ROOTS: Final[frozenset[str]] = frozenset({"env", "steps", "job", "jobs", "run", "run_id", "flow_id", "result"})

# Every forbidden sequence, and both token delimiters, contains a brace: a string without one needs no parsing.
_FORBIDDEN_RE: Final = re.compile(r"\$\{|\{%|%\}|\{#|#\}|\{\}")
_NEEDS_PARSE_RE: Final = re.compile(r"\{\{|\}\}|\$\{|\{%|%\}|\{#|#\}|\{\}")
_PARSE_CACHE_SIZE: Final = 8192


class _Missing:
    """Marker for a lookup that found nothing (distinct from a present ``None``)."""

    __slots__ = ()


_MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class Token:
    """One ``{{path}}`` / ``{{path:default}}`` occurrence; ``start``/``end`` are offsets of its braces in the source."""

    path: str
    root: str
    default: str | None
    start: int
    end: int


# A token ready for lookup: (path segments, default, dotted path for the error message).
_Lookup = tuple[tuple[str, ...], str | None, str]


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed string: its tokens, and whether it is one standalone token (which keeps the value's type)."""

    source: str
    tokens: tuple[Token, ...]
    standalone: bool
    # Literal text and lookups in source order, precomputed so render() does no slicing or splitting.
    _pieces: tuple[str | _Lookup, ...] = field(init=False, repr=False, compare=False)
    _lookups: tuple[_Lookup, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pieces: list[str | _Lookup] = []
        lookups: list[_Lookup] = []
        pos = 0
        for tok in self.tokens:
            if tok.start > pos:
                pieces.append(self.source[pos : tok.start])
            lookups.append((tuple(tok.path.split(".")), tok.default, tok.path))
            pieces.append(lookups[-1])
            pos = tok.end
        if pos < len(self.source):
            pieces.append(self.source[pos:])
        object.__setattr__(self, "_pieces", tuple(pieces))
        object.__setattr__(self, "_lookups", tuple(lookups))

    def roots(self) -> set[str]:
        """The roots (first path segments) the template reads."""
        return {tok.root for tok in self.tokens}

    def paths(self) -> list[str]:
        """The dotted paths the template reads, in source order, each once."""
        return list(dict.fromkeys(tok.path for tok in self.tokens))

    def render(self, ctx: Mapping[str, Any]) -> Any:
        """Substitute every token from ``ctx``.

        A standalone token returns the value with its type (or the default string); otherwise the result is a string,
        re-checked for forbidden syntax. Raises TemplateMissingKey for a missing path without a default.
        """
        if self.standalone:
            return _resolve(ctx, self._lookups[0])
        if not self.tokens:
            return self.source
        parts: list[str] = []
        for piece in self._pieces:
            if isinstance(piece, str):
                parts.append(piece)
            else:
                value = _resolve(ctx, piece)
                parts.append(value if type(value) is str else str(value))
        out = "".join(parts)
        found = _FORBIDDEN_RE.search(out)
        if found is not None:
            # Name the sequence and the template, never the substituted value (it may be a secret).
            raise TemplateSyntaxError(
                f"rendering {_excerpt(self.source)} produced the forbidden sequence {found.group()!r}; "
                "a value substituted inline must not contain it"
            )
        return out


def _excerpt(source: str, limit: int = 80) -> str:
    """The template source quoted for an error detail, shortened so a long SQL text does not flood the log."""
    return repr(source if len(source) <= limit else source[:limit] + "...")


def _resolve(ctx: Mapping[str, Any], lookup: _Lookup) -> Any:
    """Walk mappings one segment per level; absent, non-mapping or ``""`` is missing (docs/reference/templating.md)."""
    segments, default, path = lookup
    cur: Any = ctx
    for seg in segments:
        if type(cur) is dict or isinstance(cur, Mapping):
            cur = cur.get(seg, _MISSING)
            if cur is _MISSING:
                break
        else:
            cur = _MISSING
            break
    if cur is _MISSING or (isinstance(cur, str) and not cur):
        if default is None:
            raise TemplateMissingKey(path)
        return default
    return cur


def _valid_path(path: str) -> bool:
    """``ident {"." ident}`` where an ident starts with a Unicode letter or ``_`` and continues alphanumeric/``_``."""
    for seg in path.split("."):
        if not seg or not (seg[0].isalpha() or seg[0] == "_"):
            return False
        if not all(ch.isalnum() or ch == "_" for ch in seg):
            return False
    return True


def _tokenise(text: str) -> Template:
    """Apply the forbidden-syntax rule and the tokenising steps of docs/reference/templating.md (roots not checked)."""
    found = _FORBIDDEN_RE.search(text)
    if found is not None:
        raise TemplateSyntaxError(f"forbidden sequence {found.group()!r} at offset {found.start()}")
    tokens: list[Token] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            break  # the rest is literal, even a '}}' in it
        stray = text.find("}}", pos, start)
        if stray >= 0:
            raise TemplateSyntaxError(f"'}}}}' at offset {stray} closes no '{{{{'")
        close = text.find("}}", start + 2)
        if close < 0:
            raise TemplateSyntaxError(f"'{{{{' at offset {start} is never closed with '}}}}'")
        end = close + 2
        inner = text[start + 2 : close].strip()
        if not inner:
            raise TemplateSyntaxError(f"empty token at offset {start}")
        if "{" in inner or "}" in inner:
            raise TemplateSyntaxError(f"token at offset {start} contains a brace: {text[start:end]!r}")
        path, colon, default = inner.partition(":")
        path = path.strip()
        if not _valid_path(path):
            raise TemplateSyntaxError(
                f"invalid path {path!r} in token {text[start:end]!r}; a path is dotted names like env.NAME"
            )
        tokens.append(
            Token(path=path, root=path.split(".", 1)[0], default=default if colon else None, start=start, end=end)
        )
        pos = end
    standalone = len(tokens) == 1 and tokens[0].start == 0 and tokens[0].end == len(text)
    return Template(source=text, tokens=tuple(tokens), standalone=standalone)


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse(text: str, allowed_roots: frozenset[str] | None) -> Template:
    template = _tokenise(text)
    if allowed_roots is not None:
        for tok in template.tokens:
            if tok.root not in allowed_roots:
                raise TemplateSyntaxError(
                    f"root {tok.root!r} is not allowed here; allowed: {', '.join(sorted(allowed_roots))}",
                    root=tok.root,
                )
    return template


def parse(text: str, allowed_roots: frozenset[str] | None = None) -> Template:
    """Parse ``text`` strictly; ``allowed_roots=None`` skips the root check.

    Raises TemplateSyntaxError for any problem of docs/reference/templating.md. When the syntax is fine and only a root
    is not allowed, the error's ``root`` names the first such root (validation reports it as ``template:unknown_root``).
    """
    return _parse(text, allowed_roots)


def has_template(text: str) -> bool:
    """True if ``text`` needs parsing: it holds a token delimiter or a forbidden sequence."""
    if "{" not in text and "}" not in text:
        return False
    return _NEEDS_PARSE_RE.search(text) is not None


def render(value: Any, ctx: Mapping[str, Any], allowed_roots: frozenset[str]) -> Any:
    """Render every string leaf of ``value`` (nested mappings and lists); keys and non-strings pass unchanged.

    Raises TemplateSyntaxError or TemplateMissingKey (subclasses of TemplateError) for the first failing leaf.
    """
    if isinstance(value, str):
        if "{" not in value and "}" not in value:
            return value
        return _parse(value, allowed_roots).render(ctx)
    if type(value) is dict or isinstance(value, Mapping):
        return {key: render(item, ctx, allowed_roots) for key, item in value.items()}
    if type(value) is list:
        return [render(item, ctx, allowed_roots) for item in value]
    if type(value) is tuple:
        return tuple(render(item, ctx, allowed_roots) for item in value)
    return value


def iter_strings(value: Any, loc: str) -> Iterator[tuple[str, str]]:
    """Yield ``(loc, string)`` for every string leaf, locs written like ``a.b[0].c`` (docs/reference/error-codes.md)."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(item, f"{loc}.{key}" if loc else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{loc}[{index}]")
