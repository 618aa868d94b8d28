"""Dialogue transcripts: every coverage ID of docs/coverage.md has a passing one.

docs/coverage.md is the project's copy of ../shared/domain/coverage.md, so the tests pass in a
clone with nothing beside it; when the shared file is there too, the copy must equal it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.engine.engine import Engine
from tests.dialogue_runner import Visits, run_transcript
from tests.transition_coverage import report

ROOT = Path(__file__).resolve().parent.parent
DIALOGUES = sorted((ROOT / "tests" / "dialogues").glob("*.yaml"))
COVERAGE = ROOT / "docs" / "coverage.md"
SHARED_COVERAGE = ROOT.parent / "shared" / "domain" / "coverage.md"


@pytest.mark.parametrize("path", DIALOGUES, ids=[p.stem for p in DIALOGUES])
async def test_dialogue(engine: Engine, path: Path) -> None:
    await run_transcript(engine, path)


def coverage_ids() -> list[str]:
    text = COVERAGE.read_text(encoding="utf-8")
    return re.findall(r"^- ([A-Z][0-9]+) ", text, flags=re.MULTILINE)


def test_every_coverage_id_has_a_transcript() -> None:
    ids = coverage_ids()
    assert len(ids) >= 30, "coverage.md could not be read"
    covered: set[str] = set()
    for path in DIALOGUES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        covered.update(str(c) for c in doc.get("covers") or [])
    missing = [i for i in ids if i not in covered]
    assert not missing, f"coverage IDs without a transcript: {', '.join(missing)}"


async def test_transition_coverage(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """All transcripts together reach every state and nearly every declared transition."""
    visits = Visits()
    for path in DIALOGUES:
        await run_transcript(engine, path, visits)
    result = report(engine.bundle, visits.states, visits.transitions)
    with capsys.disabled():
        print("\n" + result.summary())
    assert result.ok, result.summary()


def test_the_coverage_list_is_in_step_with_the_shared_one() -> None:
    if not SHARED_COVERAGE.exists():
        pytest.skip("no ../shared/domain/coverage.md here; docs/coverage.md is the list used")
    assert COVERAGE.read_text(encoding="utf-8") == SHARED_COVERAGE.read_text(encoding="utf-8"), (
        "docs/coverage.md differs from ../shared/domain/coverage.md: copy the shared file over"
    )


def test_coverage_report_fails_and_lists_what_is_missing(engine: Engine) -> None:
    result = report(engine.bundle, {engine.bundle.root}, set())
    assert not result.ok
    assert "menu.start -> menu.problem" in result.summary()
    assert "states never reached" in result.summary()
