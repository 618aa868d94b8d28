"""The README's diagram is the committed main diagram (which tests/test_graph.py keeps current)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_shows_the_current_main_diagram() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    main = (ROOT / "docs" / "diagrams" / "main.mmd").read_text(encoding="utf-8").strip()
    assert f"```mermaid\n{main}\n```" in readme, (
        "README's diagram is out of date: copy docs/diagrams/main.mmd into its mermaid block"
    )
