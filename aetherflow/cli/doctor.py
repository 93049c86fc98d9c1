"""``aetherflow doctor``: the flow's problems (missing env included) plus the environment checks a run would hit only
later: the state directory and its filesystem, decode without a secrets hook, the Pushgateway URL. Connects nowhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from aetherflow.cli.common import dumps
from aetherflow.cli.inspect import MISSING_ENV_CODE, NETWORK_FS_CODE, prepare, records, validate
from aetherflow.observability.logvalues import loggable

if TYPE_CHECKING:
    from aetherflow.errors import Issue
    from aetherflow.plan import Plan
    from aetherflow.settings import Settings


def doctor(args: argparse.Namespace) -> int:
    """The ``doctor`` command: exit 0 when nothing is wrong, 2 otherwise."""
    from aetherflow.errors import ExitCode

    ctx = prepare(args, "doctor")
    report, plan = validate(ctx)
    problems = [*ctx.problems, *report.errors]
    warnings = list(ctx.warnings)
    for issue in report.warnings:
        # doctor is not strict about env only in name: a missing key is a problem to fix before the run
        (problems if issue.code == MISSING_ENV_CODE else warnings).append(issue)
    if plan is not None and not ctx.hook_configured:
        from aetherflow.edge.inputs import decode_without_hook

        problems.extend(decode_without_hook(plan))
    state_problems, state_warnings = _state_checks(ctx.settings, plan)
    problems.extend(state_problems)
    warnings.extend(state_warnings)
    gateway = _pushgateway_problem(ctx.settings.pushgateway_url)
    if gateway is not None:
        problems.append(gateway)
    if plan is not None:
        from aetherflow.cli.report_checks import report_region_warnings

        warnings.extend(report_region_warnings(plan))
    ok = not problems
    if args.json:
        from aetherflow.plan.references import missing_env_names

        doc = {
            "ok": ok,
            "flow_yaml": ctx.flow_path,
            "problems": records(problems),
            "warnings": records(warnings),
            "missing_env": missing_env_names(problems),
        }
        print(dumps(loggable(doc, ctx.redactor.mask)))
    else:
        lines = [f"{'OK' if ok else 'FAIL'}: {ctx.flow_path}"]
        lines.extend(f"- {issue}" for issue in problems)
        lines.extend(f"! {issue}" for issue in warnings)
        print(ctx.redactor.mask("\n".join(lines)))
    return int(ExitCode.OK if ok else ExitCode.INVALID)


def _state_checks(settings: Settings, plan: Plan | None) -> tuple[list[Issue], list[Issue]]:
    """Writable state directory and its filesystem (docs/reference/state.md steps 1-3), creating nothing."""
    from aetherflow.errors import Issue, StateInputError
    from aetherflow.state.sqlite import database_path
    from aetherflow.state.volume import check_writable, choose_journal_mode, detect_filesystem

    found = _configured_state(settings, plan)
    if isinstance(found, list):
        return found, []
    configured, loc = found
    try:
        db_path = database_path(configured, plan.meta.flow_id if plan is not None else None)
    except StateInputError as exc:
        return [Issue("settings:invalid", loc, str(exc))], []
    directory = db_path.parent
    # The run creates missing parents; probing the nearest existing one tells whether it could, without creating it.
    probe = _existing(directory)
    try:
        if not probe.is_dir():
            raise StateInputError(f"State directory not writable: {directory}")
        check_writable(probe)
    except StateInputError:
        detail = "" if probe == directory else f" (its nearest existing parent {probe} is not a writable directory)"
        return [Issue("settings:invalid", loc, f"State directory not writable: {directory}{detail}")], []
    fstype, network = detect_filesystem(directory)
    try:
        mode, warn = choose_journal_mode(
            fstype, network, settings.state_journal_mode, settings.state_strict_fs, db_path
        )
    except StateInputError as exc:
        return [Issue("settings:invalid", loc, str(exc))], []
    if not warn:
        return [], []
    return [], [
        Issue(
            NETWORK_FS_CODE,
            loc,
            f"State path {db_path} is on a network filesystem ({fstype}); SQLite locking is unreliable there, "
            f"journal mode {mode.upper()} will be used (state_network_fs)",
        )
    ]


def _configured_state(settings: Settings, plan: Plan | None) -> tuple[str, str] | list[Issue]:
    """(the configured SQLite location, where it was set), or the problems found on the way (none: nothing to
    check, as for PostgreSQL, which doctor never connects to)."""
    from aetherflow.errors import Issue, StateInputError
    from aetherflow.state.location import is_url, parse_state_url

    if settings.state_url:
        try:
            location = parse_state_url(settings.state_url, source="AETHERFLOW_STATE_URL")
        except StateInputError as exc:
            return [Issue("settings:invalid", "AETHERFLOW_STATE_URL", str(exc))]
        if isinstance(location, str):
            return []  # PostgreSQL: nothing on this machine to check, and doctor never connects
        configured, loc = str(location), "AETHERFLOW_STATE_URL"
    elif settings.state_path:
        configured, loc = settings.state_path, "AETHERFLOW_STATE_PATH"
    elif plan is not None:
        configured, loc = plan.meta.state_path, "flow.state.path"
    else:
        return []  # the flow did not validate: its state path is unknown (the errors say why)
    if loc == "flow.state.path" and is_url(configured):
        return [
            Issue(
                "settings:invalid",
                loc,
                "flow.state.path must be a path: a database URL belongs in AETHERFLOW_STATE_URL or --state",
            )
        ]
    return configured, loc


def _pushgateway_problem(url: str) -> Issue | None:
    """A malformed ``AETHERFLOW_PUSHGATEWAY_URL`` (parsed only; nothing is pushed). Empty means no push: fine."""
    from urllib.parse import urlsplit

    from aetherflow.errors import Issue

    text = url.strip()
    if not text:
        return None
    # prometheus_client accepts a bare host[:port] and adds http:// itself
    parts = urlsplit(text if "://" in text else f"http://{text}")
    reason: str | None = None
    if any(ch.isspace() for ch in text):
        reason = "it contains whitespace"
    elif parts.scheme not in {"http", "https"}:
        reason = f"unsupported scheme '{parts.scheme}' (use http or https)"
    elif not parts.hostname:
        reason = "it has no host"
    elif parts.query or parts.fragment:
        reason = "it must not have a query or fragment (metrics are pushed to <url>/metrics/job/...)"
    else:
        try:
            parts.port  # noqa: B018 - the property validates the port and raises ValueError
        except ValueError as exc:
            reason = f"invalid port ({exc})"
    if reason is None:
        return None
    shown = parts.netloc.rpartition("@")[2]  # never echo a user:password part
    return Issue(
        "settings:invalid",
        "AETHERFLOW_PUSHGATEWAY_URL",
        f"AETHERFLOW_PUSHGATEWAY_URL is not a valid Pushgateway URL: {reason} "
        f"(got scheme '{parts.scheme}', host '{shown}'; expected http(s)://host[:port][/path])",
    )


def _existing(path: Path) -> Path:
    """``path``, or its nearest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
