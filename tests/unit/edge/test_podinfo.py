"""Run id derivation from the command line, settings and the Kubernetes Job (execution.md §10.1, container.md §4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from aetherflow.edge.podinfo import PodInfo, derive_run_id, generate_run_id
from aetherflow.errors import ExitCode, InputError
from aetherflow.settings import load_settings

UID_A = "0f3c2b1a-9d8e-4c7b-a6f5-e4d3c2b1a098"
UID_B = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"


def no_previous_run(run_id: str) -> str | None:
    return None


def stored(uids: dict[str, str | None]):  # type: ignore[no-untyped-def]
    """A lookup over stored runs {run_id: job_uid}, recording what it was asked."""
    asked: list[str] = []

    def lookup(run_id: str) -> str | None:
        asked.append(run_id)
        return uids.get(run_id)

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


def derive(**kwargs: object) -> tuple[str, str | None]:
    args: dict[str, object] = {
        "settings_run_id": None,
        "cli_run_id": None,
        "job_name": None,
        "job_uid": None,
        "lookup_previous_uid": no_previous_run,
    }
    args.update(kwargs)
    return derive_run_id(**args)  # type: ignore[arg-type]


def test_cli_run_id_wins_over_the_setting_and_the_job_name() -> None:
    assert derive(cli_run_id="manual-1", settings_run_id="env-1", job_name="nightly-29012345") == ("manual-1", None)


def test_setting_run_id_wins_over_the_job_name() -> None:
    assert derive(settings_run_id="env-1", job_name="nightly-29012345", job_uid=UID_A) == ("env-1", None)


def test_job_name_is_the_run_id_when_no_run_id_is_given() -> None:
    assert derive(job_name="nightly-29012345") == ("nightly-29012345", None)


def test_without_any_source_the_run_id_is_a_sortable_utc_timestamp_with_random_hex() -> None:
    run_id, warning = derive(now=datetime(2025, 3, 1, 2, 0, 5, tzinfo=UTC))

    assert re.fullmatch(r"20250301T020005Z-[0-9a-f]{8}", run_id)
    assert warning is None


def test_generated_run_ids_differ_within_one_second() -> None:
    now = datetime(2025, 3, 1, 2, 0, 5, tzinfo=UTC)

    assert len({generate_run_id(now) for _ in range(20)}) == 20


def test_generated_run_ids_sort_by_time() -> None:
    earlier = generate_run_id(datetime(2025, 3, 1, 2, 0, 5, tzinfo=UTC), suffix="ffffffff")
    later = generate_run_id(datetime(2025, 3, 1, 2, 0, 6, tzinfo=UTC), suffix="00000000")

    assert earlier < later


@pytest.mark.parametrize(
    ("source", "value"),
    [("cli_run_id", "has space"), ("settings_run_id", "-leading-dash"), ("job_name", "a/b"),
     ("settings_run_id", "x" * 129), ("cli_run_id", "ünïcode")],
)  # fmt: skip
def test_a_run_id_outside_the_pattern_is_an_input_error_naming_its_source(source: str, value: str) -> None:
    with pytest.raises(InputError) as caught:
        derive(**{source: value})

    assert caught.value.exit_code == ExitCode.INVALID
    assert caught.value.issue.code == "settings:invalid"
    assert repr(value) in str(caught.value)
    assert {"cli_run_id": "--run-id", "settings_run_id": "AETHERFLOW_RUN_ID", "job_name": "AETHERFLOW_JOB_NAME"}[
        source
    ] in str(caught.value)


def test_a_run_id_of_128_characters_is_accepted() -> None:
    assert derive(settings_run_id="a" * 128) == ("a" * 128, None)


def test_a_reused_job_name_with_another_uid_gets_a_fresh_run_id_and_reports_the_previous_uid() -> None:
    lookup = stored({"nightly-29012345": UID_A})

    run_id, previous = derive(job_name="nightly-29012345", job_uid=UID_B, lookup_previous_uid=lookup)

    assert run_id == f"nightly-29012345.{UID_B[:8]}"
    assert previous == UID_A


def test_a_retried_pod_of_the_same_job_resumes_its_run() -> None:
    lookup = stored({"nightly-29012345": UID_A})

    assert derive(job_name="nightly-29012345", job_uid=UID_A, lookup_previous_uid=lookup) == ("nightly-29012345", None)


def test_a_stored_run_without_a_job_uid_is_resumed_by_name() -> None:
    lookup = stored({"nightly-29012345": None})

    assert derive(job_name="nightly-29012345", job_uid=UID_B, lookup_previous_uid=lookup) == ("nightly-29012345", None)


def test_without_a_job_uid_the_store_is_not_consulted() -> None:
    lookup = stored({"nightly-29012345": UID_A})

    assert derive(job_name="nightly-29012345", lookup_previous_uid=lookup) == ("nightly-29012345", None)
    assert lookup.asked == []  # type: ignore[attr-defined]


def test_an_explicit_run_id_resumes_whatever_run_has_it_whatever_the_job_uid() -> None:
    lookup = stored({"nightly-29012345": UID_A})

    result = derive(
        settings_run_id="nightly-29012345", job_name="nightly-29012345", job_uid=UID_B, lookup_previous_uid=lookup
    )

    assert result == ("nightly-29012345", None)
    assert lookup.asked == []  # type: ignore[attr-defined]


def test_pod_info_reads_the_downward_api_settings_and_treats_empty_values_as_unset() -> None:
    settings = load_settings(
        {
            "AETHERFLOW_JOB_NAME": "nightly-29012345",
            "AETHERFLOW_JOB_UID": UID_A,
            "AETHERFLOW_POD_NAME": "nightly-29012345-x7k2p",
            "AETHERFLOW_NAMESPACE": "",
        }
    )

    assert PodInfo.from_settings(settings) == PodInfo("nightly-29012345", UID_A, "nightly-29012345-x7k2p", None)
