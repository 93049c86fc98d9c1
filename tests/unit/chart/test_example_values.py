"""The example values file of the README and the walkthrough installs the example flow as it is in git."""

from __future__ import annotations

from tests.unit.chart.rendering import CHART, ROOT, cronjobs, helm, of_kind, pod_spec, template

VALUES = ROOT / "examples" / "values" / "nightly-sales.yaml"
FLOW = ROOT / "examples" / "flows" / "nightly_sales.yaml"
SET_FILE = ["--set-file", f"flows.nightly_sales\\.yaml={FLOW}"]


def test_the_example_values_pass_helm_lint_with_the_flow_file() -> None:
    proc = helm("lint", "--strict", str(CHART), "-f", str(VALUES), *SET_FILE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_mounted_flow_is_the_file_in_git_byte_for_byte() -> None:
    objects = template(VALUES, extra=SET_FILE)
    [flows] = [cm for cm in of_kind(objects, "ConfigMap") if "nightly_sales.yaml" in cm.get("data", {})]
    assert flows["data"]["nightly_sales.yaml"] == FLOW.read_text(encoding="utf-8")


def test_the_example_schedules_one_cronjob_at_half_past_two_in_berlin_with_the_secret_mounted() -> None:
    [cronjob] = cronjobs(template(VALUES, extra=SET_FILE, skip_tests=True))
    assert (cronjob["spec"]["schedule"], cronjob["spec"]["timeZone"]) == ("30 2 * * *", "Europe/Berlin")
    secrets = [v["secret"]["secretName"] for v in pod_spec(cronjob)["volumes"] if "secret" in v]
    assert "nightly-sales-env" in secrets
