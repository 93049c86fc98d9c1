"""Static template checks (phase 4, and the profile sections of phase 5): nothing is rendered here.

Every templated string is parsed with the roots of its phase (env only for ``flow`` and resources, the step roots for
step inputs/outputs); ``env.*`` reads without a default must name a non-empty variable; ``run.<key>`` must be a key
the run root has; a decode target must be one standalone ``{{TOKEN}}``. What step templates read of steps and jobs is
checked by ``output_refs``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from aetherflow.conditions import run_key_problem
from aetherflow.errors import Issue, TemplateSyntaxError
from aetherflow.plan.findings import Recorder
from aetherflow.spec.load import YamlDocument
from aetherflow.templating import ENV_ROOTS, STEP_ROOTS, Template, Token, has_template, parse

#: the message of ``semantic:missing_env``; the env variable's name follows it
MISSING_ENV_PREFIX: Final = "Missing env env."
_DECODE_MSG: Final = "Decode target must be a standalone template token like '{{TOKEN}}' (no prefix/suffix)."


class TemplateScanner:
    """Checks the templates of one flow (and of its profiles) and records what is wrong."""

    def __init__(self, rec: Recorder, *, env: Mapping[str, str], strict_env: bool) -> None:
        self.rec = rec
        self.env = env
        self.strict_env = strict_env  # a missing env key is an error (else a warning)

    def scan_flow(self, raw: Mapping[str, Any]) -> None:
        """Phase 4 over the flow document as written (``raw``, not the schema-validated data)."""
        resources = raw.get("resources") or {}
        for name, res in resources.items():
            if not isinstance(res, dict):
                continue
            for section in ("config", "options"):
                value = res.get(section)
                if value:
                    self.scan(f"resources.{name}.{section}", ("resources", name, section), value, ENV_ROOTS)
            self.decode_targets(name, res.get("config") or {}, res.get("options") or {}, res.get("decode") or {})
        self.scan("flow", ("flow",), raw["flow"], ENV_ROOTS)
        for i, job in enumerate(raw["jobs"]):
            for j, step in enumerate(job["steps"]):
                for section in ("inputs", "outputs"):
                    value = step.get(section)
                    if value:
                        path = ("jobs", i, "steps", j, section)
                        self.scan(f"jobs[{i}].steps[{j}].{section}", path, value, STEP_ROOTS, job_id=job["id"])

    def scan(
        self,
        section: str,
        path: tuple[Any, ...],
        value: Any,
        roots: frozenset[str],
        *,
        job_id: str | None = None,
        doc: YamlDocument | None = None,
        check_env: bool = True,
    ) -> None:
        """Check every templated string under ``value`` (at ``path`` of ``doc``, default the flow document)."""
        doc = doc or self.rec.doc
        section_line = doc.line_of(path)
        for leaf_path, leaf_loc, text in string_leaves(value, path, section):
            if not has_template(text):
                continue
            try:
                template: Template = parse(text, roots)
            except TemplateSyntaxError as exc:
                if job_id is None or exc.root is None:
                    detail = f"{leaf_loc}: {exc.detail}" if exc.detail else leaf_loc
                    msg = f"{TemplateSyntaxError.SENTENCE} ({detail})"
                    self.rec.add(True, Issue("template:syntax", section, msg, line=section_line, file=doc.file))
                    continue
                msg = f"Unknown template root: {exc.root}"
                line = doc.line_of(leaf_path)
                self.rec.add(True, Issue("template:unknown_root", leaf_loc, msg, line=line, file=doc.file))
                template = parse(text, None)
            for token in template.tokens:
                self._check_token(token, section, section_line, doc.file, check_env=check_env)

    def _check_token(self, token: Token, section: str, line: int | None, file: str | None, *, check_env: bool) -> None:
        if token.root == "env" and token.default is None and check_env and _env_missing(self.env, token.path):
            name = token.path.removeprefix("env.")
            issue = Issue("semantic:missing_env", section, MISSING_ENV_PREFIX + name, line=line, file=file)
            self.rec.add(self.strict_env, issue)
        elif token.root == "run" and "." in token.path:
            problem = run_key_problem(token.path.split(".")[1:])
            if problem is not None:
                self.rec.add(True, Issue("template:unknown_reference", section, problem, line=line, file=file))

    def decode_targets(
        self, name: str, config: Mapping[str, Any], options: Mapping[str, Any], decode: Mapping[str, Any]
    ) -> None:
        """Every decode target of resource ``name`` that holds a template must be one standalone token."""
        if not isinstance(decode, dict):
            return
        for section, values in (("config", config), ("options", options)):
            if not isinstance(values, dict):
                continue
            targets = [*_true_paths(decode.get(section)), *str_items(decode.get(f"{section}_paths"))]
            for target in dict.fromkeys(targets):
                value = _dotted(values, target)
                if not isinstance(value, str) or ("{{" not in value and "}}" not in value):
                    continue
                try:
                    standalone = parse(value, None).standalone
                except TemplateSyntaxError:
                    standalone = False
                if not standalone:
                    line = self.rec.doc.line_of(("resources", name, section, *target.split(".")))
                    issue = Issue("template:syntax", f"resources.{name}.{section}.{target}", _DECODE_MSG, line=line)
                    self.rec.add(True, issue)


def str_items(value: Any) -> list[str]:
    """The strings of ``value`` when it is a list (anything else: none)."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def string_leaves(value: Any, path: tuple[Any, ...], loc: str) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """``(path, loc, text)`` for every string leaf of ``value`` (mapping keys are never templated)."""
    todo: list[tuple[Any, tuple[Any, ...], str]] = [(value, path, loc)]
    while todo:
        current, cur_path, cur_loc = todo.pop()
        if isinstance(current, str):
            yield cur_path, cur_loc, current
        elif isinstance(current, dict):
            todo.extend((item, (*cur_path, key), f"{cur_loc}.{key}") for key, item in reversed(list(current.items())))
        elif isinstance(current, list):
            todo.extend((item, (*cur_path, n), f"{cur_loc}[{n}]") for n, item in reversed(list(enumerate(current))))


def _env_missing(env: Mapping[str, str], path: str) -> bool:
    """Whether ``env.<...>`` would be missing (docs/reference/templating.md): absent, empty, or deeper than a string."""
    segments = path.split(".")
    if len(segments) == 1:
        return False
    if len(segments) > 2:
        return True
    value = env.get(segments[1])
    return value is None or value == ""


def _true_paths(tree: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of a ``decode`` tree whose value is YAML ``true`` (strict: only a real boolean selects)."""
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if value is True:
            yield dotted
        elif isinstance(value, dict):
            yield from _true_paths(value, f"{dotted}.")


def _dotted(values: Mapping[str, Any], dotted: str) -> Any:
    if dotted in values:
        return values[dotted]
    current: Any = values
    for segment in dotted.split("."):
        if not isinstance(current, Mapping) or segment not in current:
            return None
        current = current[segment]
    return current


def missing_env_names(issues: Iterator[Issue] | list[Issue]) -> list[str]:
    """The env variable names the ``semantic:missing_env`` records among ``issues`` name, sorted, each once."""
    names = {
        issue.msg.removeprefix(MISSING_ENV_PREFIX)
        for issue in issues
        if issue.code == "semantic:missing_env" and issue.msg.startswith(MISSING_ENV_PREFIX)
    }
    return sorted(names)
