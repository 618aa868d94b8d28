"""Load-time validation: bad flows and locales stop start-up with file, line, flow and state."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.engine.loader import FlowError, load_bundle

MINI = Path(__file__).parent / "fixtures" / "mini"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(MINI, tmp_path / "b")
    return tmp_path / "b"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture changed: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems(root: Path) -> list[str]:
    with pytest.raises(FlowError) as err:
        load_bundle(root)
    return [str(p) for p in err.value.problems]


def test_the_fixture_is_valid() -> None:
    bundle = load_bundle(MINI)
    assert bundle.root == "menu.start"
    assert "menu.ask_date" in bundle.states


Mutation = Callable[[Path], None]

CASES: list[tuple[str, Mutation, str]] = [
    (
        "unknown target",
        lambda r: edit(r / "flows/menu.yaml", "to: help.tips}", "to: help.nowhere}"),
        "flows/menu.yaml:13: flow menu, state menu.start: unknown target `help.nowhere`",
    ),
    (
        "unreachable state",
        lambda r: edit(
            r / "flows/help.yaml",
            "states:\n",
            "states:\n  orphan:\n    say: help.tips\n"
            "    buttons:\n      - {text: btn.menu, to: menu.start}\n",
        ),
        "flows/help.yaml:3: flow help, state help.orphan: unreachable",
    ),
    (
        "dead end",
        lambda r: edit(
            r / "flows/help.yaml",
            "    buttons:\n      - {text: btn.menu, to: menu.start}\n  human:",
            "  human:",
        ),
        "flows/help.yaml:3: flow help, state tips: dead end",
    ),
    (
        "missing locale key",
        lambda r: edit(r / "flows/help.yaml", "say: help.tips", "say: help.missing"),
        "message `help.missing` missing in locale zh-Hans",
    ),
    (
        "missing button label",
        lambda r: edit(
            r / "flows/help.yaml",
            "{text: btn.menu, to: menu.start}",
            "{text: btn.gone, to: menu.start}",
        ),
        "flows/help.yaml:6: flow help, state help.tips: button `btn.gone` missing",
    ),
    (
        "unknown placeholder",
        lambda r: edit(r / "locales/zh-Hans.yaml", "小贴士（{hedge}）", "小贴士（{nonsense}）"),
        "zh-Hans.yaml:11: message `help.tips` uses unknown placeholder {nonsense}",
    ),
    (
        "unknown state key",
        lambda r: edit(
            r / "flows/help.yaml", "    say: help.tips", "    sya: x\n    say: help.tips"
        ),
        "flows/help.yaml:4: flow help, state tips: unknown key `sya`",
    ),
    (
        "unknown action",
        lambda r: edit(r / "flows/menu.yaml", "do: [compute_window]", "do: [launch_rockets]"),
        "unknown action `launch_rockets`",
    ),
    (
        "unknown condition",
        lambda r: edit(r / "flows/menu.yaml", "if: window_open", "if: moon_is_full"),
        "unknown condition `moon_is_full`",
    ),
    (
        "branch without else",
        lambda r: edit(r / "flows/menu.yaml", "      - {to: closed}\n", ""),
        "the last branch rule must have no `if`",
    ),
    (
        "invalid yaml",
        lambda r: edit(r / "flows/help.yaml", "  tips:\n", "  tips: [\n"),
        "help.yaml:5: flow help: invalid YAML",
    ),
    (
        "duplicate key",
        lambda r: edit(r / "flows/help.yaml", "  done:\n", "  tips:\n    say: x\n  done:\n"),
        "duplicate key 'tips'",
    ),
    (
        "missing system message",
        lambda r: edit(r / "locales/zh-Hans.yaml", "  sys.fallback: 没看懂。\n", ""),
        "message `sys.fallback` missing in locale zh-Hans",
    ),
    (
        "intent without synonyms",
        lambda r: edit(r / "locales/zh-Hans.yaml", "  signed: [签收了, 收到了]\n", ""),
        "intent `signed` has no synonyms in zh-Hans",
    ),
    (
        "flow name differs from file",
        lambda r: edit(r / "flows/help.yaml", "flow: help", "flow: helps"),
        "`flow:` must be 'help'",
    ),
    (
        "policy without hedge",
        lambda r: edit(r / "config/policy.yaml", 'hedge: "以App内显示为准"\n', ""),
        "policy `hedge`",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_broken_tree_is_reported_precisely(
    tree: Path, name: str, mutate: Mutation, expected: str
) -> None:
    mutate(tree)
    found = problems(tree)
    assert any(expected in p for p in found), f"{name}: {expected!r} not in\n" + "\n".join(found)


def test_locale_fragments_merge_and_duplicates_are_refused(tree: Path) -> None:
    (tree / "locales/zh-Hans.extra.yaml").write_text(
        "messages:\n  extra.hello: 你好\n", encoding="utf-8"
    )
    assert "extra.hello" in load_bundle(tree).locales["zh-Hans"].messages
    (tree / "locales/zh-Hans.dup.yaml").write_text(
        "messages:\n  sys.help: 又一个\n", encoding="utf-8"
    )
    assert any("`sys.help` is already defined" in p for p in problems(tree))


def test_check_command_exits_non_zero_and_names_the_problem(tree: Path) -> None:
    edit(tree / "flows/menu.yaml", "to: help.tips}", "to: help.nowhere}")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--root", str(tree), "check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "unknown target `help.nowhere`" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_command_passes_on_a_valid_tree() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--root", str(MINI), "check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok:")


def test_each_reminder_kind_needs_its_tagged_state(tmp_path: Path) -> None:
    """The code finds follow-up states by tag (no state id in Python): a lost tag stops start-up."""
    root = tmp_path / "repo"
    for part in ("flows", "locales", "config"):
        shutil.copytree(REPO / part, root / part)
    edit(root / "flows" / "followup.yaml", "    tags: [reminder_seller]\n", "")
    found = problems(root)
    assert any("tag `reminder_seller` must be on one state (none)" in p for p in found), found


def test_tags_must_be_a_list_of_names(tree: Path) -> None:
    flow = next((tree / "flows").glob("*.yaml"))
    text = flow.read_text(encoding="utf-8")
    state = text.index("states:\n") + len("states:\n")
    head = text[state:].split("\n", 1)[0]  # "  <first state>:"
    edit(flow, f"{head}\n", f"{head}\n    tags: Mid Case\n")
    assert any("`tags` must be a list of names" in p for p in problems(tree))
