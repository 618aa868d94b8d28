"""Flow diagrams: the committed Mermaid files are current, and the drawing says what it should."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.engine.loader import load_bundle
from bot.graph import expected_files, flow_mermaid, main_graph, main_mermaid, title

ROOT = Path(__file__).resolve().parent.parent


def test_committed_diagrams_are_current() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in expected_files(ROOT).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"out of date (run `python -m bot.graph --write`): {', '.join(stale)}"


def test_no_diagram_of_a_flow_that_is_gone() -> None:
    expected = set(expected_files(ROOT))
    extra = [p.name for p in (ROOT / "docs" / "diagrams").glob("*.mmd") if p not in expected]
    assert not extra


def test_states_are_labelled_by_their_zh_hans_title_and_buttons_label_edges() -> None:
    bundle = load_bundle(ROOT)
    text = flow_mermaid(bundle, "menu")
    start = bundle.states["menu.start"]
    assert title(bundle, start) in text
    assert "<b>" not in text
    label = bundle.locales["zh-Hans"].buttons["btn.st_signed"]
    assert f'menu_start -->|"{label}"| menu_problem' in text
    assert "menu_check_status{" in text  # an automatic state is a diamond


def test_overview_has_every_flow_and_the_commands() -> None:
    bundle = load_bundle(ROOT)
    text = main_mermaid(bundle)
    for flow in {s.flow for s in bundle.states.values()}:
        assert f"\n  {flow}[" in text
    assert '-.->|"/lang"| lang' in text


def test_cli_writes_mermaid_and_rejects_unknown_flows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "refuse.mmd"
    assert main_graph(ROOT, "refuse", "mermaid", out) == 0
    assert out.read_text(encoding="utf-8").startswith("flowchart TD")
    assert main_graph(ROOT, "nope", "mermaid", None) == 2
    assert "no flow 'nope'" in capsys.readouterr().err


def test_svg_without_graphviz_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert main_graph(ROOT, "refuse", "svg", None) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "graphviz" in err.lower()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")
def test_svg_with_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "k1.svg"
    assert main_graph(ROOT, "k1", "svg", out) == 0
    assert b"<svg" in out.read_bytes()
