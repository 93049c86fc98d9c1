"""Which resources a flow uses: an unknown or incomplete connector is an error only on a used resource.

A resource is used when a step names it in a literal ``resource``/``connector`` input. A templated such input, a
templated step type (``with_lock``'s inner step), or any plugin step (it may reach any resource through its context)
makes every resource count as used, since the name is not known before the run. ``zip``/``unzip`` fall back to the
resource ``archive_default``. The environment preflight and phase 7 of a run use the same answer, per job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from aetherflow.plan.shapes import MAX_INNER_DEPTH
from aetherflow.registry import Registry
from aetherflow.templating import has_template

ARCHIVE_DEFAULT: Final = "archive_default"
_ARCHIVE_STEPS: Final = frozenset({"zip", "unzip"})
_RESOURCE_KEYS: Final = ("resource", "connector")
_LOCK_STEP: Final = "with_lock"


class ResourceUsage:
    """The resources the steps of one flow use (``all_used``: every one counts as used)."""

    def __init__(self, jobs: Iterable[Mapping[str, Any]], registry: Registry) -> None:
        self.names: set[str] = set()
        self.all_used = False
        self._registry = registry
        for job in jobs:
            for step in job.get("steps") or ():
                self._visit(step, 0)

    def uses(self, name: str) -> bool:
        return self.all_used or name in self.names

    def _visit(self, step: Any, depth: int) -> None:
        if not isinstance(step, Mapping) or depth > MAX_INNER_DEPTH:
            return
        step_type, inputs = step.get("type"), step.get("inputs")
        if isinstance(step_type, str) and has_template(step_type):
            self.all_used = True  # ``with_lock`` of a step type known only at run time: it may be any step
            return
        if not isinstance(step_type, str):
            return
        if self._registry.has_step(step_type) and not self._registry.is_builtin_step(step_type):
            self.all_used = True
        if step_type in _ARCHIVE_STEPS:
            self.names.add(ARCHIVE_DEFAULT)
        if not isinstance(inputs, Mapping):
            return
        for key in _RESOURCE_KEYS:
            value = inputs.get(key)
            if isinstance(value, str):
                if has_template(value):
                    self.all_used = True
                else:
                    self.names.add(value)
        if step_type == _LOCK_STEP:
            self._visit(inputs.get("step"), depth + 1)
