"""Read a flow (or profiles) file once and parse it with YAML 1.1 rules, keeping a node -> line index.

Every record the validation produces carries the line of the node it is about (docs/reference/error-codes.md),
so the document is composed once by PyYAML's C parser (pure-Python fallback) and then constructed here, node by node,
recording for each path the line of its key (mapping entries) or of its first key (list items), the source text of
plain scalars that YAML 1.1 turned into booleans, nulls or numbers (for the "quote it" hint), and duplicate keys.

Called by ``aetherflow.plan`` (flows) and ``aetherflow.spec.profiles`` (profiles files).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import yaml

from aetherflow.errors import InputError, Issue
from aetherflow.spec.model import allowed_keys_at

__all__ = [
    "ROOT_LOC",
    "YamlDocument",
    "did_you_mean",
    "format_loc",
    "parse_yaml",
    "read_source",
    "schema_issues",
]

try:  # the C parser composes ~10x faster; the construction below is Python either way
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,unused-ignore]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

ROOT_LOC: Final = "<root>"
_TAG_MAP: Final = "tag:yaml.org,2002:map"
_TAG_SEQ: Final = "tag:yaml.org,2002:seq"
_TAG_MERGE: Final = "tag:yaml.org,2002:merge"
_TAG_STR: Final = "tag:yaml.org,2002:str"
#: plain scalars YAML 1.1 converts away from a string, and the word the hint uses for them
_CONVERTED: Final[Mapping[str, str]] = {
    "tag:yaml.org,2002:bool": "boolean",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:int": "number",
    "tag:yaml.org,2002:float": "number",
}
# Far deeper than any flow; keeps every later recursive walk (schema, templates) clear of Python's recursion limit.
_MAX_DEPTH: Final = 100
# Bounds alias expansion ("billion laughs"): a flow has a few thousand nodes at most.
_MAX_NODES: Final = 200_000


class ScalarSource(NamedTuple):
    """A plain scalar YAML 1.1 converted: its text as written and what it became (boolean, null or number)."""

    text: str
    kind: str


class YamlDocument:
    """The constructed data plus, per path (keys and list indexes), its line and converted-scalar source."""

    __slots__ = ("data", "file", "lines", "scalars")

    def __init__(
        self,
        data: Any,
        lines: dict[tuple[Any, ...], int] | None = None,
        scalars: dict[tuple[Any, ...], ScalarSource] | None = None,
        file: str | None = None,
    ) -> None:
        self.data = data
        self.lines: dict[tuple[Any, ...], int] = lines if lines is not None else {}
        self.scalars: dict[tuple[Any, ...], ScalarSource] = scalars if scalars is not None else {}
        self.file = file

    def __repr__(self) -> str:
        return f"YamlDocument(file={self.file!r}, data={self.data!r})"

    def line_of(self, path: Sequence[Any]) -> int | None:
        """Line of ``path``, else of its closest recorded ancestor (a missing key -> the mapping lacking it)."""
        key = tuple(path)
        while True:
            line = self.lines.get(key)
            if line is not None or not key:
                return line
            key = key[:-1]

    def issue(self, code: str, path: Sequence[Any], msg: str, *, loc: str | None = None) -> Issue:
        """An Issue about ``path`` with its loc text and line (and this document's file, when not the flow)."""
        return Issue(
            code=code,
            loc=loc if loc is not None else format_loc(path, self.data),
            msg=msg,
            line=self.line_of(path),
            file=self.file,
        )


class _YamlProblem(Exception):
    def __init__(self, problem: str, line: int | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line


# ------------------------------------------------------------------------------------------------ reading


def read_source(path: str, *, what: str = "Flow file") -> bytes:
    """The bytes of ``path``; a missing or unreadable file is an InputError (``settings:invalid`` at ``<root>``)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise InputError(f"{what} not readable: {path}: {exc.strerror or type(exc).__name__}") from None


def decode_text(raw: bytes, path: str, *, what: str = "Flow file") -> str:
    """UTF-8 text of ``raw`` (a leading BOM dropped); anything else is an InputError naming the file."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} not readable: {path}: not valid UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


# ------------------------------------------------------------------------------------------------ parsing


def parse_yaml(text: str, *, file: str | None = None) -> tuple[YamlDocument | None, list[Issue]]:
    """Parse ``text`` (YAML 1.1, safe tags only); an empty document is ``{}``.

    Returns the document, or None with ``yaml:syntax`` / ``yaml:duplicate_key`` issues (then nothing else should run).
    """
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _YamlProblem(_problem_text(exc), _mark_line(exc)) from None
        except yaml.YAMLError as exc:
            raise _YamlProblem(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, None) from None
        if node is None:
            return YamlDocument(data={}, file=file), []
        builder = _Builder(loader)
        try:
            data = builder.build(node, (), 0)
        except yaml.MarkedYAMLError as exc:
            raise _YamlProblem(_problem_text(exc), _mark_line(exc)) from None
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            # a safe constructor rejecting a scalar (e.g. an out-of-range timestamp) has no mark
            raise _YamlProblem(f"could not construct a value: {exc}", None) from None
    except _YamlProblem as problem:
        return None, [Issue("yaml:syntax", ROOT_LOC, problem.problem, line=problem.line, file=file)]
    finally:
        loader.dispose()
    doc = YamlDocument(data=data, lines=builder.lines, scalars=builder.scalars, file=file)
    if builder.duplicates:
        return None, [
            Issue(
                "yaml:duplicate_key",
                format_loc(path, data),
                f"Duplicate key '{key}' (first at line {first})",
                line=line,
                file=file,
            )
            for path, key, first, line in builder.duplicates
        ]
    return doc, []


def _problem_text(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return ": ".join(parts) if parts else type(exc).__name__


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


class _Builder:
    """Constructs plain data from composed nodes, indexing lines and converted scalars by path."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.lines: dict[tuple[Any, ...], int] = {}
        self.scalars: dict[tuple[Any, ...], ScalarSource] = {}
        self.duplicates: list[tuple[tuple[Any, ...], Any, int, int]] = []
        self._active: set[int] = set()
        self._count = 0

    def build(self, node: yaml.Node, path: tuple[Any, ...], depth: int) -> Any:
        self._count += 1
        if self._count > _MAX_NODES:
            raise _YamlProblem(f"document too large: more than {_MAX_NODES} nodes after alias expansion", None)
        if depth > _MAX_DEPTH:
            raise _YamlProblem(f"document nested deeper than {_MAX_DEPTH} levels", node.start_mark.line + 1)
        if not path:
            self.lines[()] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _TAG_STR:
                return node.value  # most scalars: skip the constructor machinery (flows have thousands)
            value = self.loader.construct_object(node, deep=True)
            kind = _CONVERTED.get(node.tag)
            if kind is not None and not node.style and node.value:  # plain style: None (Python) or "" (C)
                self.scalars[path] = ScalarSource(node.value, kind)
            return value
        if isinstance(node, yaml.MappingNode) and node.tag == _TAG_MAP:
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode) and node.tag == _TAG_SEQ:
            return self._sequence(node, path, depth)
        # other safe tags on collections (!!set, !!omap, !!pairs) construct as PyYAML does
        return self.loader.construct_object(node, deep=True)

    def _enter(self, node: yaml.Node) -> None:
        if id(node) in self._active:
            raise _YamlProblem("recursive aliases are not supported", node.start_mark.line + 1)
        self._active.add(id(node))

    def _mapping(self, node: yaml.MappingNode, path: tuple[Any, ...], depth: int) -> dict[Any, Any]:
        self._enter(node)
        first_line: dict[Any, int] = {}
        keys: list[Any] = []
        merges = False
        for key_node, _value in node.value:
            if key_node.tag == _TAG_MERGE:
                merges = True
                continue
            key = self._key(key_node)
            keys.append(key)
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.duplicates.append((path, key, first_line[key], line))
            else:
                first_line[key] = line
        if merges:
            self.loader.flatten_mapping(node)  # resolves '<<' merge keys; explicit keys come last and win
            keys = [self._key(key_node) for key_node, _value in node.value]
        result: dict[Any, Any] = {}
        for key, (key_node, value_node) in zip(keys, node.value, strict=True):
            child = (*path, key)
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child, depth + 1)
        self._active.discard(id(node))
        return result

    def _sequence(self, node: yaml.SequenceNode, path: tuple[Any, ...], depth: int) -> list[Any]:
        self._enter(node)
        result: list[Any] = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            self.lines[child] = item.start_mark.line + 1
            result.append(self.build(item, child, depth + 1))
        self._active.discard(id(node))
        return result

    def _key(self, key_node: yaml.Node) -> Any:
        if not isinstance(key_node, yaml.ScalarNode):
            raise _YamlProblem("found unhashable key (a mapping key must be a scalar)", key_node.start_mark.line + 1)
        if key_node.tag == _TAG_STR:
            return key_node.value
        key = self.loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):  # pragma: no cover - safe scalars are hashable
            raise _YamlProblem("found unhashable key", key_node.start_mark.line + 1)
        return key


# ------------------------------------------------------------------------------------------------ locations


def format_loc(path: Iterable[Any], data: Any = None) -> str:
    """``jobs[0].steps[1].inputs``: list indexes in brackets, keys dotted; the empty path is ``<root>``.

    ``data`` tells list indexes from integer mapping keys; without it every int is an index.
    """
    out: list[str] = []
    cur: Any = data
    for seg in path:
        if isinstance(seg, int) and not isinstance(seg, bool) and (data is None or isinstance(cur, list)):
            out.append(f"[{seg}]")
            cur = cur[seg] if isinstance(cur, list) and -len(cur) <= seg < len(cur) else None
        else:
            text = str(seg) if seg != "" else "''"  # an empty key stays visible
            out.append(f".{text}" if out else text)
            cur = cur.get(seg) if isinstance(cur, dict) else None
    return "".join(out) if out else ROOT_LOC


def data_path(loc: Sequence[Any], data: Any) -> tuple[Any, ...]:
    """Map a pydantic error loc onto keys of ``data`` (pydantic writes some keys as text, adds ``[key]``)."""
    out: list[Any] = []
    cur: Any = data
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(cur, dict) and seg not in cur:
            match = next((k for k in cur if str(k) == str(seg)), seg)
            seg = match
        out.append(seg)
        if isinstance(cur, dict):
            cur = cur.get(seg)
        elif isinstance(cur, list) and isinstance(seg, int) and -len(cur) <= seg < len(cur):
            cur = cur[seg]
        else:
            cur = None
    return tuple(out)


def did_you_mean(key: object, allowed: Iterable[str]) -> str:
    """`` (did you mean '<allowed>'?)`` for the best close match (difflib, cutoff 0.6), else ``""``."""
    if not isinstance(key, str):
        return ""
    import difflib  # only an error pays for it

    match = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def quote_hint(doc: YamlDocument, path: tuple[Any, ...]) -> str:
    """The YAML 1.1 "quote it" hint for a string field holding a converted plain scalar, else ``""``."""
    source = doc.scalars.get(path)
    if source is None:
        return ""
    return f"; YAML read the unquoted value '{source.text}' as a {source.kind} - quote it: \"{source.text}\""


def schema_issues(
    errors: Iterable[Mapping[str, Any]],
    doc: YamlDocument,
    schema: Mapping[str, Any],
    *,
    at: tuple[Any, ...] = (),
    loc_head: str = "",
    msg_prefix: str = "",
) -> list[Issue]:
    """Turn pydantic-core error dicts into ``schema:<type>`` Issues with loc, line, did-you-mean and quote hints.

    ``at`` is where the validated value sits in ``doc`` (a profile is at ``(<name>,)`` of its file); ``loc_head``
    is written in front of the loc text (``profiles.<name>``); ``msg_prefix`` in front of every message.
    """
    out: list[Issue] = []
    base = _subtree(doc.data, at)
    for err in errors:
        kind = str(err["type"])
        path = data_path(err["loc"], base)
        msg = str(err["msg"])
        if kind == "extra_forbidden" and path:
            allowed = allowed_keys_at(schema, tuple(err["loc"][:-1]))
            if allowed is not None:
                msg += did_you_mean(path[-1], allowed)
        elif kind == "string_type":
            msg += quote_hint(doc, (*at, *path))
        rel = format_loc(path, base)
        if loc_head:
            rel = loc_head if rel == ROOT_LOC else (f"{loc_head}{rel}" if rel.startswith("[") else f"{loc_head}.{rel}")
        out.append(
            Issue(code=f"schema:{kind}", loc=rel, msg=msg_prefix + msg, line=doc.line_of((*at, *path)), file=doc.file)
        )
    return out


def _subtree(data: Any, path: tuple[Any, ...]) -> Any:
    cur = data
    for seg in path:
        cur = cur.get(seg) if isinstance(cur, dict) else None
    return cur
