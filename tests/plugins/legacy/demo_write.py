"""The spec's aetherflow-core example plugin, unchanged, plus steps using more of the legacy context."""

from aetherflow.core.api import STEP_SKIPPED, Step, StepResult, register_step


@register_step("demo.write")
class DemoWrite(Step):
    required_inputs = {"text"}

    def run(self):
        self.validate()
        return {"n": len(self.inputs["text"])}


@register_step("demo.files")
class DemoFiles(Step):
    """Writes into its job's artifacts dir and reports what the legacy context offers."""

    required_inputs = {"name", "content"}

    def run(self):
        self.validate()
        target = self.ctx.artifacts_dir(self.job_id) / self.inputs["name"]
        target.write_text(self.inputs["content"])
        return {
            "path": str(target),
            "job_dir": str(self.ctx.job_dir(self.job_id)),
            "run_id": self.ctx.run_id,
            "flow_id": self.ctx.flow_id,
            "work_root": str(self.ctx.settings.work_root),
            "home": self.ctx.env.get("DEMO_HOME"),
        }


@register_step("demo.maybe")
class DemoMaybe(Step):
    """SKIPPED (with a reason) unless ``count`` is positive."""

    def run(self):
        count = int(self.inputs.get("count", 0))
        if count <= 0:
            return StepResult(status=STEP_SKIPPED, output={"count": count}, reason="nothing to do")
        return StepResult(output={"count": count})


@register_step("demo.lock")
class DemoLock(Step):
    """Takes the lock ``key`` with acquire_lock and reports whether it got it."""

    required_inputs = {"key"}

    def run(self):
        got = self.ctx.acquire_lock(self.inputs["key"], 60)
        return {"acquired": got}
