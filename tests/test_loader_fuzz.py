"""Corrupted flow, locale and policy files give a ``FlowError`` with a message, never a traceback.

Each example copies the repository's ``flows/``, ``locales/`` and ``config/`` into a temporary
folder, damages one file (byte flips, truncation, insertion of bytes that YAML or UTF-8 reject)
and loads it. Loading either succeeds (the damage was harmless) or raises ``FlowError`` whose
message names a file; any other exception fails the test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.loader import FlowError, load_bundle

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    str(p.relative_to(ROOT))
    for pattern in ("flows/*.yaml", "locales/*.yaml", "config/policy.yaml")
    for p in ROOT.glob(pattern)
)
#: Bytes that stress YAML and UTF-8: NUL, tab, a lone continuation byte, BOM, quotes, flow syntax.
NASTY = [
    b"\x00",
    b"\t",
    b"\x80",
    b"\xff",
    b"\xef\xbb\xbf",
    b'"',
    b"'",
    b"{",
    b"[",
    b":",
    b"&a",
    b"*a",
]
NASTY += [b"!!python/object:os.system", b"\n  - ", b"\n", b"%YAML 9.9\n", b"---\n", b"...\n", b"#"]


def _copy(tmp: Path) -> None:
    for sub in ("flows", "locales", "config"):
        shutil.copytree(ROOT / sub, tmp / sub)


def _load_expecting_clean_error(root: Path) -> None:
    try:
        load_bundle(root)
    except FlowError as exc:
        message = str(exc)
        assert message.strip(), "FlowError without a message"
        assert "Traceback" not in message
        assert ".yaml" in message or "flows" in message, message[:500]


def _mutate(data: bytes, kind: str, pos: int, payload: bytes, flip: int) -> bytes:
    if not data:
        return payload
    pos %= len(data)
    if kind == "truncate":
        return data[:pos]
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ (flip or 1)]) + data[pos + 1 :]
    if kind == "insert":
        return data[:pos] + payload + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + 1 + flip % 40 :]
    # duplicate a stretch: duplicated keys, repeated states
    return data[:pos] + data[pos : pos + 200] + data[pos:]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(FILES),
    kind=st.sampled_from(["truncate", "flip", "insert", "delete", "duplicate"]),
    pos=st.integers(0, 10**6),
    payload=st.sampled_from(NASTY) | st.binary(min_size=1, max_size=8),
    flip=st.integers(0, 255),
)
def test_random_damage_to_one_file_gives_flowerror_or_loads(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    kind: str,
    pos: int,
    payload: bytes,
    flip: int,
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    _copy(tmp)
    target = tmp / name
    target.write_bytes(_mutate(target.read_bytes(), kind, pos, payload, flip))
    _load_expecting_clean_error(tmp)


@pytest.mark.parametrize(
    "damage",
    [
        "empty",
        "binary",
        "bad_utf8",
        "nul",
        "list_not_mapping",
        "scalar",
        "tabs",
        "python_tag",
        "alias_bomb",
        "half",
    ],
)
@pytest.mark.parametrize("name", ["flows/menu.yaml", "locales/zh-Hans.yaml", "config/policy.yaml"])
def test_known_kinds_of_damage(tmp_path: Path, name: str, damage: str) -> None:
    _copy(tmp_path)
    target = tmp_path / name
    original = target.read_bytes()
    content = {
        "empty": b"",
        "binary": bytes(range(256)) * 4,
        "bad_utf8": original[:50] + b"\xc3\x28\xa0\xa1" + original[50:],
        "nul": original.replace(b"\n", b"\n\x00", 1),
        "list_not_mapping": b"- a\n- b\n",
        "scalar": b"just a string\n",
        "tabs": original.replace(b"  ", b"\t", 3),
        "python_tag": b"!!python/object/apply:os.system ['echo hacked']\n",
        "deep_nesting": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "alias_bomb": (
            b"a: &a ['x','x','x','x','x','x','x','x','x']\n"
            b"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
            b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        ),
        "half": original[: len(original) // 2],
    }[damage]
    target.write_bytes(content)
    with pytest.raises(FlowError) as err:
        load_bundle(tmp_path)
    assert str(err.value).strip()


def test_unreadable_and_missing_files_are_flowerrors(tmp_path: Path) -> None:
    _copy(tmp_path)
    (tmp_path / "flows" / "menu.yaml").unlink()
    with pytest.raises(FlowError) as err:
        load_bundle(tmp_path)
    assert "menu.yaml" in str(err.value)
    # A directory where a flow file should be.
    (tmp_path / "flows" / "menu.yaml").mkdir()
    with pytest.raises(FlowError):
        load_bundle(tmp_path)


def test_deeply_nested_yaml_is_a_flowerror_not_a_recursionerror(tmp_path: Path) -> None:
    """Regression: 5000 nested ``[`` escaped ``load_yaml`` as RecursionError (fixed in 9c2190d)."""
    _copy(tmp_path)
    (tmp_path / "flows" / "menu.yaml").write_bytes(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n")
    with pytest.raises(FlowError) as err:
        load_bundle(tmp_path)
    assert "menu.yaml" in str(err.value)
