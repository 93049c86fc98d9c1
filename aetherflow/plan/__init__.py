"""Validate a flow file and turn it into an immutable ``Plan`` (docs/reference/flow-yaml.md).

One pipeline serves ``validate``, ``doctor`` and the start of ``run``; the phases run in the spec's order and each
problem becomes an ``Issue`` (code, loc, msg, line, file):

1. YAML: read once, parsed with a node -> line index (``spec.load``); on failure nothing else runs.
2. Schema: strict types, defaults, unknown keys with "did you mean", ids (``spec.model``); on failure stop here.
3. Semantic rules 1-16 in the table order (connectors, ids, the ``depends_on`` graph, step types and input keys,
   ``external.process`` and ``with_lock`` checks, resources, ``when``) plus the semantic warnings (``rules``).
4. Template scan: every templated section parsed with its phase's roots; env reads collected; reads of jobs that are
   not dependencies (``references``).
5. Profiles: the configured source loaded and checked; unknown profile names (``profile_checks``).
6. The environment preflight: the env reads this invocation needs (the flow block, the resources its jobs use, those
   jobs' steps) must name set, non-empty variables (``env_preflight``); warnings in ``validate`` unless strict, errors
   at the start of a run.

When no error was found, the flow block is rendered with the env root (``flow_id``, paths, lock settings) and jobs
are ordered topologically with declaration order as the tie-break (``graph``). Step shapes come from a catalogue for
built-in steps and from the class only for plugin step types the flow uses (``shapes``), so validating a flow imports
no more step modules than running it would. ``build_resources`` (``resources``) resolves, for a run, the resources
its jobs use.
"""

from __future__ import annotations

from aetherflow.plan.env_preflight import EnvCheck
from aetherflow.plan.graph import execution_order
from aetherflow.plan.model import FlowMeta, JobSpec, Plan, Report, StepSpec
from aetherflow.plan.pipeline import build_plan, validate_flow
from aetherflow.plan.resources import build_resources
from aetherflow.plan.rules import DEFAULT_ARCHIVE_DRIVERS
from aetherflow.plan.shapes import STEP_SHAPES_FILE, builtin_step_shapes, step_info

__all__ = [
    "DEFAULT_ARCHIVE_DRIVERS",
    "STEP_SHAPES_FILE",
    "EnvCheck",
    "FlowMeta",
    "JobSpec",
    "Plan",
    "Report",
    "StepSpec",
    "build_plan",
    "build_resources",
    "builtin_step_shapes",
    "execution_order",
    "step_info",
    "validate_flow",
]
