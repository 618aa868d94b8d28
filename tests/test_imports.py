"""The package's dependencies run one way, and there are no import cycles.

Layers, from the bottom: ``bot.yamlsrc``; ``bot.nlu``; ``bot.engine`` (may use the two below);
``bot.store`` (may use ``bot.engine.model``); the application (service, cases, reminders,
hook, privacy, chats, i18n, agents); the front ends (``bot.tg``, the console, the command
line). A module may import its own layer and the layers below, never above. Only ``bot.tg``
may import ``telegram`` (the agent desk's Telegram half is ``bot.tg.operators``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bot"

#: Layer of each module prefix (longest prefix wins); higher numbers may import lower ones.
LAYERS = {
    "bot.yamlsrc": 0,
    "bot.nlu": 1,
    "bot.engine": 2,
    "bot.store": 3,
    "bot.chats": 4,
    "bot.i18n": 4,
    "bot.config": 4,
    "bot.service": 4,
    "bot.cases": 4,
    "bot.reminders": 4,
    "bot.hook": 4,
    "bot.privacy": 4,
    "bot.agents": 4,
    "bot.executors": 4,
    "bot.ports": 4,
    "bot.tg": 5,
    "bot.console": 5,
    "bot.graph": 5,
    "bot.cli_cases": 5,
    "bot.cli_nlu": 5,
    "bot.__main__": 5,
    "bot": 5,
}
#: Modules allowed to import telegram (and bot.tg) besides bot.tg: none.
TELEGRAM_EXCEPTIONS: set[str] = set()


def _modules() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = {
            dep
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            for dep in _deps(node)
        }
    names = set(found)
    # "from bot import hook" depends on bot.hook, not on the package bot
    return {
        m: {d.rsplit(".", 1)[0] if d not in names and "." in d else d for d in deps}
        - ({"bot"} if m != "bot" else set())
        for m, deps in found.items()
    }


def _deps(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return {f"{node.module}.{alias.name}" for alias in node.names}
    return set()


MODULES = _modules()


def _layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def _internal(deps: set[str]) -> set[str]:
    return {d for d in deps if d in MODULES}


def test_the_walk_sees_the_package() -> None:
    assert {"bot.engine.engine", "bot.service", "bot.tg.app", "bot.store.sqlite"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module: str) -> None:
    deps = _internal(MODULES[module])
    if module in TELEGRAM_EXCEPTIONS:
        deps = {d for d in deps if not d.startswith("bot.tg")}
    wrong = sorted(d for d in deps if _layer(d) > _layer(module))
    assert not wrong, f"{module} (layer {_layer(module)}) imports {wrong}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_telegram_front_end_imports_telegram(module: str) -> None:
    if module.startswith("bot.tg") or module in TELEGRAM_EXCEPTIONS:
        return
    uses = sorted(d for d in MODULES[module] if d == "telegram" or d.startswith("telegram."))
    assert not uses, f"{module} imports {uses}"


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the cycle it closes."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, set())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_there_are_no_import_cycles() -> None:
    cycles = find_cycles({m: _internal(deps) - {m} for m, deps in MODULES.items()})
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checks_catch_what_they_are_for() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _layer("bot.engine.engine") < _layer("bot.service") < _layer("bot.tg.app")
    assert _layer("bot.store.sqlite") > _layer("bot.engine.model")


#: Where a locale name or the time zone may be written in code: the settings, and the tables
#: that name languages (Telegram's tags in i18n.py; the scripts the detector tells apart).
LITERAL_ALLOWED = {"bot/config.py", "bot/i18n.py", "bot/nlu/lang.py", "bot/nlu/data.py"}


@pytest.mark.parametrize("literal", ['"zh-Hans"', '"Asia/Shanghai"'])
def test_the_default_locale_and_zone_are_written_only_in_configuration(literal: str) -> None:
    """They come from config/policy.yaml (default_locale, timezone): one setting each."""
    found = [
        str(path.relative_to(PACKAGE.parent))
        for path in sorted(PACKAGE.rglob("*.py"))
        if literal in path.read_text(encoding="utf-8")
        and str(path.relative_to(PACKAGE.parent)) not in LITERAL_ALLOWED
    ]
    assert not found, f"{literal} written in {found}"
