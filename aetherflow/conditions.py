"""The ``when:`` language of a job (docs/reference/when.md): parsed at plan time, evaluated at run time, never ``eval``.

The text is parsed with :mod:`ast` (mode ``"eval"``); a breadth-first walk then accepts exactly the grammar (and/or/not,
chained comparisons, literals, ``jobs.<id>...`` and ``run.<key>`` references, parentheses) and compiles it into small
closures. Plan validation reports :class:`WhenError`; the runner calls :meth:`Condition.evaluate` with the statuses
known so far and the run's own values.
"""

from __future__ import annotations

import ast
import functools
import io
import operator
import tokenize
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aetherflow.errors import AetherFlowError

__all__ = ["RUN_KEYS", "Condition", "WhenError", "WhenEvaluationError", "parse_when", "run_key_problem"]

_Eval = Callable[[Mapping[str, Any]], Any]

#: the keys of the ``run`` root, in templates of step phases and in ``when`` (one value each, never a mapping)
RUN_KEYS: Final[tuple[str, ...]] = ("id", "attempt", "scheduled_at", "date")
_ROOTS: Final = ("jobs", "run")

_LITERAL_NAMES: Final[dict[str, Any]] = {"true": True, "false": False, "null": None, "none": None}
_EQUALITY: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {ast.Eq: operator.eq, ast.NotEq: operator.ne}
_ORDERING: Final[dict[type[ast.cmpop], tuple[str, Callable[[Any, Any], Any]]]] = {
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
}
# Node classes that are always part of the grammar; the others below are accepted only in a given shape.
_PLAIN_NODES: Final = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.Compare,
    ast.Load,
    ast.Not,
    ast.USub,
    *_EQUALITY,
    *_ORDERING,
)
# Deeper nesting than any hand-written condition; bounds the recursion of compile and evaluate.
_MAX_DEPTH: Final = 100
_CACHE_SIZE: Final = 1024


class WhenError(AetherFlowError, ValueError):
    """A ``when`` text outside the grammar; ``message`` is the spec's ``semantic:invalid_when`` text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WhenEvaluationError(AetherFlowError, ValueError):
    """A ``when`` could not be decided: a missing reference or an ordering between incompatible types.

    ``detail`` is ``'<reference>' is not defined`` or ``cannot compare <type> and <type> with '<op>'``; the runner
    wraps it as ``Invalid job.when for job_id=<job>: <detail> (when: <expression>)``.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Condition:
    """A parsed ``when``; constructing one validates ``source`` (raises WhenError)."""

    source: str
    _evaluate: _Eval = field(init=False, repr=False, compare=False)
    _job_refs: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = self.source.strip()
        if not text:
            evaluate: _Eval = _always_true
            refs: frozenset[str] = frozenset()
        else:
            tree, parsed = _parse_tree(text)
            _check(tree)
            _check_tokens(parsed)
            refs_found: set[str] = set()
            evaluate = _compile(tree.body, refs_found)
            refs = frozenset(refs_found)
        object.__setattr__(self, "_evaluate", evaluate)
        object.__setattr__(self, "_job_refs", refs)

    @property
    def always(self) -> bool:
        """True for an empty or whitespace-only ``when`` (the job runs)."""
        return not self.source.strip()

    def job_refs(self) -> set[str]:
        """Ids of the jobs the condition reads (``jobs.<id>...``)."""
        return set(self._job_refs)

    def evaluate(self, jobs: Mapping[str, Any], run: Mapping[str, Any] | None = None) -> bool:
        """Decide the condition against ``jobs`` (job id → ``{status, outputs, ...}``) and ``run`` (``RUN_KEYS``).

        ``and``/``or`` short-circuit, so a reference on the side not taken is never read. Raises WhenEvaluationError
        for a missing reference or an ordering between incompatible types.
        """
        return bool(self._evaluate({"jobs": jobs, "run": run if run is not None else {}}))


def _always_true(_scope: Mapping[str, Any]) -> bool:
    return True


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(text: str) -> Condition:
    return Condition(text)


def parse_when(text: str | None) -> Condition:
    """Parse a ``when`` text (None or blank means always); raises WhenError with the spec's message."""
    return _parse_cached(text or "")


def _parse_tree(text: str) -> tuple[ast.Expression, str]:
    """Parse with Python's parser; returns the tree and the exact text it was parsed from."""
    try:
        return ast.parse(text, mode="eval"), text
    except SyntaxError as exc:
        first = exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise WhenError(f"Syntax error: {exc}") from None
    # Whitespace between tokens is free, newlines included: retry inside parentheses, but only if the added pair
    # encloses the whole text (otherwise "a)(b" would turn into a call).
    if "\n" in text or "\r" in text:
        wrapped = f"(\n{text}\n)"
        if _outer_parens_enclose_all(wrapped):
            try:
                return ast.parse(wrapped, mode="eval"), wrapped
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                pass
    raise WhenError(f"Syntax error: {first.msg}") from None


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    # The C tokenizer behind tokenize can also raise UnicodeDecodeError (a ValueError) on stray carriage returns.
    except (tokenize.TokenError, SyntaxError, ValueError) as exc:
        raise WhenError(f"Syntax error: {exc.args[0] if exc.args else exc}") from None


def _outer_parens_enclose_all(wrapped: str) -> bool:
    try:
        ops = [tok.string for tok in _tokens(wrapped) if tok.type == tokenize.OP]
    except WhenError:
        return False
    depth = 0
    for index, op in enumerate(ops):
        if op in ("(", "[", "{"):
            depth += 1
        elif op in (")", "]", "}"):
            depth -= 1
            if depth == 0 and index != len(ops) - 1:
                return False
    return depth == 0


def _unsupported(node: ast.AST) -> WhenError:
    return WhenError(f"Unsupported node: {type(node).__name__}")


def _is_number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _check(tree: ast.Expression) -> None:
    """Raise WhenError for the first node, breadth-first, outside the grammar (docs/reference/when.md)."""
    queue: deque[tuple[ast.AST, ast.AST | None, int]] = deque([(tree, None, 0)])
    while queue:
        node, parent, depth = queue.popleft()
        if depth > _MAX_DEPTH:
            raise WhenError(f"Syntax error: expression nested deeper than {_MAX_DEPTH} levels")
        if isinstance(node, ast.Name):
            _check_name(node, parent)
        elif isinstance(node, ast.Attribute):
            _check_attribute(node)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.Not) and not (isinstance(node.op, ast.USub) and _is_number(node.operand)):
                raise _unsupported(node.op)
        elif isinstance(node, ast.Constant):
            if node.value is not None and type(node.value) not in (bool, int, float, str):
                raise _unsupported(node)
        elif not isinstance(node, _PLAIN_NODES):
            raise _unsupported(node)
        queue.extend((child, node, depth + 1) for child in ast.iter_child_nodes(node))


def run_key_problem(segments: list[str] | tuple[str, ...]) -> str | None:
    """Why ``run.<segments>`` names nothing (one line), or None: the run root has one level of ``RUN_KEYS``."""
    if len(segments) == 1 and segments[0] in RUN_KEYS:
        return None
    import difflib

    dotted = "run." + ".".join(segments)
    close = difflib.get_close_matches(segments[0], RUN_KEYS, n=1, cutoff=0.6) if segments else []
    hint = f" (did you mean 'run.{close[0]}'?)" if close and len(segments) == 1 else ""
    return f"Unknown reference: {dotted}{hint}; the run root has {', '.join('run.' + k for k in RUN_KEYS)}"


def _check_attribute(node: ast.Attribute) -> None:
    """A reference is an attribute chain down to the name ``jobs`` (any depth) or ``run`` (one known key).

    A chain on another name or on a node outside the grammar is left for the walk to report at that node
    (``env.x`` → ``Unsupported name: env``, ``f().x`` → ``Call``); a chain on a grammar node that cannot hold
    attributes (``true.x``, ``(1).real``, ``(a == b).x``) is reported here.
    """
    base: ast.expr = node.value
    segments = [node.attr]
    while isinstance(base, ast.Attribute):
        segments.append(base.attr)
        base = base.value
    if isinstance(base, ast.Name):
        if base.id.lower() in _LITERAL_NAMES:
            raise _unsupported(node)
        if base.id == "run":
            problem = run_key_problem(segments[::-1])
            if problem is not None:
                raise WhenError(problem)
    elif isinstance(base, ast.Constant | ast.BoolOp | ast.Compare | ast.UnaryOp):
        raise _unsupported(node)


def _check_name(node: ast.Name, parent: ast.AST | None) -> None:
    if node.id in _ROOTS:
        if not isinstance(parent, ast.Attribute):
            raise _unsupported(node)  # bare `jobs` or `run`: a reference names a job or a run key
    elif node.id.lower() not in _LITERAL_NAMES:
        raise WhenError(f"Unsupported name: {node.id}")


def _check_tokens(text: str) -> None:
    """Reject what Python's parser accepts but the grammar does not: comments, string prefixes, adjacent strings and
    backslash line continuations."""
    line_starts = [0]
    line_starts.extend(index + 1 for index, char in enumerate(text) if char == "\n")

    def offset(row: int, col: int) -> int:
        return line_starts[row - 1] + col if row - 1 < len(line_starts) else len(text)

    previous_end = 0
    previous_type: int | None = None
    for tok in _tokens(text):
        if tok.type == tokenize.ENDMARKER:
            break
        if "\\" in text[previous_end : offset(*tok.start)]:
            raise WhenError("Syntax error: line continuation is not allowed")
        previous_end = offset(*tok.end)
        if tok.type == tokenize.COMMENT:
            raise WhenError("Syntax error: comments are not allowed")
        if tok.type == tokenize.STRING:
            prefix = tok.string[: len(tok.string) - len(tok.string.lstrip("bBrRuUfF"))]
            if prefix:
                raise WhenError(f"Syntax error: string prefix {prefix!r} is not allowed")
            if previous_type == tokenize.STRING:
                raise WhenError("Syntax error: adjacent string literals are not allowed")
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            previous_type = tok.type


def _compile(node: ast.expr, refs: set[str]) -> _Eval:
    """Turn a checked node into a closure over the ``scope`` mapping; collects referenced job ids into ``refs``."""
    if isinstance(node, ast.BoolOp):
        parts = [_compile(value, refs) for value in node.values]
        return _compile_and(parts) if isinstance(node.op, ast.And) else _compile_or(parts)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            inner = _compile(node.operand, refs)
            return lambda scope: not inner(scope)
        assert isinstance(node.operand, ast.Constant)  # checked: unary minus only on a number
        number = node.operand.value
        assert isinstance(number, int | float)
        negated = -number
        return lambda _scope: negated
    if isinstance(node, ast.Compare):
        return _compile_compare(node, refs)
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda _scope: value
    if isinstance(node, ast.Name):
        literal = _LITERAL_NAMES[node.id.lower()]
        return lambda _scope: literal
    assert isinstance(node, ast.Attribute)
    return _compile_reference(node, refs)


def _compile_and(parts: list[_Eval]) -> _Eval:
    def evaluate(scope: Mapping[str, Any]) -> Any:
        value: Any = True
        for part in parts:
            value = part(scope)
            if not value:
                return value
        return value

    return evaluate


def _compile_or(parts: list[_Eval]) -> _Eval:
    def evaluate(scope: Mapping[str, Any]) -> Any:
        value: Any = False
        for part in parts:
            value = part(scope)
            if value:
                return value
        return value

    return evaluate


def _compile_compare(node: ast.Compare, refs: set[str]) -> _Eval:
    first = _compile(node.left, refs)
    steps = [(type(op), _compile(right, refs)) for op, right in zip(node.ops, node.comparators, strict=True)]

    def evaluate(scope: Mapping[str, Any]) -> bool:
        left = first(scope)
        # Like Python's chain: each operand is read once, and only while the comparisons so far hold.
        for op, operand in steps:
            right = operand(scope)
            if not _compare(op, left, right):
                return False
            left = right
        return True

    return evaluate


def _compare(op: type[ast.cmpop], left: Any, right: Any) -> bool:
    equality = _EQUALITY.get(op)
    if equality is not None:
        return bool(equality(left, right))
    symbol, ordering = _ORDERING[op]
    numbers = isinstance(left, int | float) and isinstance(right, int | float)
    if not (numbers or (isinstance(left, str) and isinstance(right, str))):
        raise WhenEvaluationError(f"cannot compare {type(left).__name__} and {type(right).__name__} with '{symbol}'")
    return bool(ordering(left, right))


def _compile_reference(node: ast.Attribute, refs: set[str]) -> _Eval:
    segments: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        segments.append(cur.attr)
        cur = cur.value
    assert isinstance(cur, ast.Name)  # checked: a chain down to a root name
    segments.append(cur.id)
    segments.reverse()
    if segments[0] == "jobs":
        refs.add(segments[1])
    dotted = ".".join(segments)
    path = tuple(segments)

    def evaluate(scope: Mapping[str, Any]) -> Any:
        value: Any = scope
        for seg in path:
            if not isinstance(value, Mapping) or seg not in value:
                raise WhenEvaluationError(f"'{dotted}' is not defined")
            value = value[seg]
        return value

    return evaluate
