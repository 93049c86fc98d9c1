"""The environment preflight: which ``{{env.NAME}}`` reads an invocation needs, and which of them are unset.

The template scan (phase 4 and the profile sections of phase 5) records every ``env`` read without a default, with
its owner (the flow block, a resource, a profile or a job) and where it is written. What counts is decided here, in
one place, for ``validate``, ``doctor`` and the start of a run: the flow block, the resources the jobs of this
invocation use (and the profiles of those resources), and those jobs' step inputs and outputs. A variable counts as
missing when it is absent or empty. A run refuses to start on any missing name (before any state or lock exists);
``validate`` reports the same names as warnings unless strict. Only names are ever reported, never values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aetherflow.errors import Issue, TemplateSyntaxError
from aetherflow.plan.usage import ResourceUsage
from aetherflow.registry import Registry
from aetherflow.templating import has_template, iter_strings, parse

MISSING_ENV_CODE: Final = "semantic:missing_env"
#: the message of ``semantic:missing_env``; the env variable's name follows it, then the fix
MISSING_ENV_PREFIX: Final = "Missing env env."

Owner = Literal["flow", "resource", "profile", "job"]


@dataclass(frozen=True)
class EnvRead:
    """One ``{{env.NAME}}`` without a default: the name read, its owner, and where the template is written."""

    name: str
    owner: Owner
    owner_name: str  # the resource, profile or job id ("" for the flow block)
    loc: str
    line: int | None
    file: str | None


@dataclass(frozen=True)
class JobUsage:
    """The resources one job's steps use (``all_used``: any of them may be used, the name is known only at run)."""

    names: frozenset[str]
    all_used: bool


@dataclass(frozen=True)
class EnvNeeds:
    """Everything the preflight needs to know about one flow, without its values: reads, usage, profiles."""

    reads: tuple[EnvRead, ...] = ()
    usage: Mapping[str, JobUsage] = field(default_factory=dict)
    profile_of: Mapping[str, str | None] = field(default_factory=dict)

    def used_resources(self, jobs: Collection[str] | None = None) -> frozenset[str]:
        """The declared resources the given jobs (default: all) use; phase 7 builds only these."""
        selected = [u for job_id, u in self.usage.items() if jobs is None or job_id in jobs]
        if any(u.all_used for u in selected):
            return frozenset(self.profile_of)
        names: set[str] = set()
        for u in selected:
            names |= u.names
        return frozenset(name for name in names if name in self.profile_of)

    def needed(self, jobs: Collection[str] | None = None) -> Iterator[EnvRead]:
        """The reads an invocation of ``jobs`` (default: every job) needs, in the order written."""
        resources = self.used_resources(jobs)
        profiles = {self.profile_of[name] for name in resources} - {None}
        for read in self.reads:
            if (
                read.owner == "flow"
                or (read.owner == "resource" and read.owner_name in resources)
                or (read.owner == "profile" and read.owner_name in profiles)
                or (read.owner == "job" and (jobs is None or read.owner_name in jobs))
            ):
                yield read


@dataclass(frozen=True)
class EnvCheck:
    """How missing names are reported: as errors (``strict``) or warnings, for which jobs (None: every job)."""

    strict: bool
    jobs: frozenset[str] | None = None

    @classmethod
    def for_run(cls, flow_job: str | None) -> EnvCheck:
        """The preflight of a run: errors, for the ``--flow-job`` job alone when one is given."""
        return cls(strict=True, jobs=frozenset({flow_job}) if flow_job is not None else None)


def collect_usage(jobs: Iterable[Mapping[str, Any]], registry: Registry) -> dict[str, JobUsage]:
    """Each schema-validated job's resource usage, by job id."""
    out: dict[str, JobUsage] = {}
    for job in jobs:
        usage = ResourceUsage([job], registry)
        out[job["id"]] = JobUsage(frozenset(usage.names), usage.all_used)
    return out


def missing_env(needs: EnvNeeds, env: Mapping[str, str], jobs: Collection[str] | None = None) -> list[Issue]:
    """One ``semantic:missing_env`` record per missing name, at the first place that reads it."""
    issues: list[Issue] = []
    seen: set[str] = set()
    for read in needs.needed(jobs):
        if read.name in seen or not env_missing(env, read.name):
            continue
        seen.add(read.name)
        issues.append(Issue(MISSING_ENV_CODE, read.loc, missing_env_message(read.name), line=read.line, file=read.file))
    return issues


def missing_env_message(name: str) -> str:
    """The message names the variable and the fix (a name holds no space: the name ends at the first one)."""
    return f"{MISSING_ENV_PREFIX}{name} (set {name}, or give a default: {{{{env.{name}:default}}}})"


def missing_env_names(issues: Iterable[Issue]) -> list[str]:
    """The names the ``semantic:missing_env`` records among ``issues`` name, sorted, each once."""
    names = {
        issue.msg.removeprefix(MISSING_ENV_PREFIX).split(" ", 1)[0]
        for issue in issues
        if issue.code == MISSING_ENV_CODE and issue.msg.startswith(MISSING_ENV_PREFIX)
    }
    return sorted(names)


def env_missing(env: Mapping[str, str], name: str) -> bool:
    """Whether ``env.<name>`` would be missing when rendered: absent, empty, or a path below a string."""
    if "." in name:
        return True
    value = env.get(name)
    return value is None or value == ""


def env_names(value: Any) -> set[str]:
    """The env variable names the templates in ``value`` read (with or without a default)."""
    names: set[str] = set()
    for _loc, text in iter_strings(value, ""):
        if not has_template(text):
            continue
        try:
            template = parse(text, None)
        except TemplateSyntaxError:
            continue
        for token in template.tokens:
            segments = token.path.split(".")
            if token.root == "env" and len(segments) > 1:
                names.add(segments[1])
    return names
