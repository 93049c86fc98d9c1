"""The marker under which an input model runs during static validation of a flow (``aetherflow validate``, and
``run`` before anything executes), as opposed to a step's run time.

Some checks belong only to validation: an input that must be one of a few words is refused there with the allowed
words, while at run time a rendered value reaches the step, which refuses it with its own documented message.
"""

from __future__ import annotations

from typing import Any, Final

#: the ``model_validate(..., context=...)`` value of a static check
STATIC_CHECK: Final = {"aetherflow_static_check": True}


def is_static_check(context: Any) -> bool:
    """Whether a pydantic validation ``context`` is the static check's."""
    return isinstance(context, dict) and bool(context.get("aetherflow_static_check"))
