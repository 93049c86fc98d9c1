"""The pages under docs/ agree with the code: generated sections are current, examples validate, links resolve,
and the code cites only pages that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aetherflow.cli import main

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
GENERATOR = ROOT / "scripts" / "gen_docs.py"
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")


def _blocks(lang: str) -> list[tuple[str, int, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match["lang"] == lang:
                line = text[: match.start()].count("\n") + 1
                found.append((f"{page.relative_to(ROOT)}:{line}", line, match["body"]))
    return found


def _is_flow(document: object) -> bool:
    return isinstance(document, dict) and "jobs" in document and "flow" in document


def _run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, cwd=ROOT, check=False, timeout=120
    )


def test_generated_sections_match_the_code() -> None:
    result = _run_generator("--check")

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_fails_and_names_the_page_when_a_generated_table_was_edited(tmp_path: Path) -> None:
    copy = tmp_path / "docs"
    shutil.copytree(DOCS, copy)
    page = copy / "reference" / "settings.md"
    page.write_text(page.read_text(encoding="utf-8").replace("AETHERFLOW_RUN_ID", "AETHERFLOW_RUNID"), encoding="utf-8")

    result = _run_generator("--check", "--docs", str(copy))

    assert result.returncode == 1
    assert "stale: " in result.stdout and "settings.md" in result.stdout


def test_the_check_fails_when_a_builtin_step_has_no_section(tmp_path: Path) -> None:
    copy = tmp_path / "docs"
    shutil.copytree(DOCS, copy)
    (copy / "reference" / "steps" / "mail.md").unlink()

    result = _run_generator("--check", "--docs", str(copy))

    assert result.returncode == 1
    assert "missing generated section: <!-- BEGIN GENERATED: step:mail_send -->" in result.stdout


YAML_BLOCKS = _blocks("yaml")


def test_the_docs_have_flow_examples() -> None:
    assert sum(_is_flow(yaml.safe_load(body)) for _, _, body in YAML_BLOCKS) >= 10


@pytest.mark.parametrize(("where", "line", "body"), YAML_BLOCKS, ids=[w for w, _, _ in YAML_BLOCKS])
def test_every_yaml_block_parses_and_every_flow_validates(
    where: str, line: int, body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load(body)
    if not _is_flow(document):
        return
    flow = tmp_path / "flow.yaml"
    flow.write_text(body, encoding="utf-8")

    code = main(["validate", str(flow)])

    assert code == 0, f"{where}: {capsys.readouterr().out}"


def test_every_relative_link_between_pages_resolves() -> None:
    broken = []
    for page in sorted(DOCS.rglob("*.md")):
        for match in LINK.finditer(page.read_text(encoding="utf-8")):
            target = match["target"]
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")

    assert broken == []


def test_the_code_cites_only_files_of_the_repository() -> None:
    cited = set()
    for path in (ROOT / "aetherflow").rglob("*.py"):
        cited.update(re.findall(r"[\w./-]*[a-z-]+\.md\b", path.read_text(encoding="utf-8")))

    assert sorted(c for c in cited if not (ROOT / c).is_file()) == []
