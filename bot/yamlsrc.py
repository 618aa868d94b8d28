"""YAML loading that remembers where every mapping and key came from.

Errors in flows and locales must name the file and line, so the loader returns :class:`Node`
mappings (``dict`` subclasses) that carry their own line and the line of each key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode


class Node(dict[str, Any]):
    """A YAML mapping with ``line`` (1-based) and ``key_lines`` for its keys."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """Returns the line of ``key``, or the mapping's own line."""
        return self.key_lines.get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    """A safe loader whose mappings are :class:`Node` objects."""


def _construct_mapping(loader: _LineLoader, node: MappingNode) -> Node:
    loader.flatten_mapping(node)
    result = Node()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        skey = str(key).lower() if isinstance(key, bool) else str(key)
        if skey in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {skey!r}", key_node.start_mark
            )
        result[skey] = loader.construct_object(value_node, deep=True)
        result.key_lines[skey] = key_node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class YamlError(Exception):
    """A file could not be read or parsed: ``path``, ``line`` (0 if unknown) and ``reason``."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")


def load_yaml(path: Path) -> Any:
    """Parses ``path``; raises :class:`YamlError` with file and line on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError(path, 0, f"cannot read: {exc}") from None
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlError(path, line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlError(path, 0, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlError(path, 0, "invalid YAML: nested too deeply") from None
