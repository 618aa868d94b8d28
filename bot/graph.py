"""Draws the flows: Mermaid text (always), SVG or PNG through Graphviz's ``dot`` (if installed).

States are labelled by the first line of their zh-Hans message (the "title"), automatic branch
states are diamonds, and edges carry the zh-Hans button label, ``intent:`` name, slot answer or
branch condition that takes them. ``python -m bot graph [FLOW] --format mermaid|svg|png`` calls
:func:`main_graph`; ``python -m bot.graph --write`` refreshes ``docs/diagrams/``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.engine.loader import load_bundle
from bot.engine.spec import Bundle, FlowError, StateSpec

FORMATS = ("mermaid", "svg", "png")
_TITLE_LIMIT = 28
_EDGE_LIMIT = 16
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Edge:
    """One drawn transition."""

    source: str
    target: str
    label: str
    dashed: bool = False


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def title(bundle: Bundle, spec: StateSpec) -> str:
    """The first line of the state's first zh-Hans message, without markup."""
    if not spec.say:
        return spec.id
    loc = bundle.locales[bundle.default_locale]
    text = loc.messages.get(spec.say[0], spec.say[0])
    first = next((ln for ln in (_TAG.sub("", x).strip() for x in text.splitlines()) if ln), "")
    return _short(first or spec.id, _TITLE_LIMIT)


def edges(bundle: Bundle, spec: StateSpec) -> list[Edge]:
    """Every declared way out of ``spec``, labelled."""
    loc = bundle.locales[bundle.default_locale]
    out: list[Edge] = []
    for b in spec.buttons:
        out.append(Edge(spec.id, b.route.to, _short(loc.buttons.get(b.text, b.text), _EDGE_LIMIT)))
    for name, r in spec.intents.items():
        out.append(Edge(spec.id, r.to, f"intent: {name}", dashed=True))
    if spec.slot:
        out.append(Edge(spec.id, spec.slot.to, f"{spec.slot.name} ({spec.slot.type})"))
        if spec.slot.skip != spec.slot.to:
            out.append(Edge(spec.id, spec.slot.skip, "skip", dashed=True))
    for rule in spec.branch:
        out.append(Edge(spec.id, rule.to, _short(rule.cond or "else", _EDGE_LIMIT), dashed=True))
    return out


def _node_id(sid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", sid)


def _quote(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def _mermaid_edge(e: Edge, source: str, target: str) -> str:
    arrow = "-.->" if e.dashed else "-->"
    return f"  {source} {arrow}|{_quote(e.label)}| {target}"


def flow_mermaid(bundle: Bundle, flow: str) -> str:
    """The states of one flow, with links out to other flows drawn as stadium nodes."""
    states = [s for s in bundle.states.values() if s.flow == flow]
    if not states:
        raise KeyError(flow)
    lines = ["flowchart TD"]
    outside: dict[str, str] = {}
    body: list[str] = []
    for spec in states:
        nid = _node_id(spec.id)
        label = _quote(title(bundle, spec))
        lines.append(f"  {nid}{{{label}}}" if spec.branch else f"  {nid}[{label}]")
        for e in edges(bundle, spec):
            target = bundle.states.get(e.target)
            if target is not None and target.flow != flow:
                tid = "out_" + _node_id(e.target)
                outside[tid] = f"→ {e.target}"
            else:
                tid = _node_id(e.target)
            body.append(_mermaid_edge(e, nid, tid))
    lines.extend(f"  {tid}([{_quote(text)}])" for tid, text in sorted(outside.items()))
    lines.extend(body)
    return "\n".join(lines) + "\n"


def main_mermaid(bundle: Bundle) -> str:
    """One node per flow (its entry's title), an edge wherever a state leads into another flow."""
    flows: dict[str, StateSpec] = {}
    for spec in bundle.states.values():
        flows.setdefault(spec.flow, spec)
    lines = ["flowchart LR"]
    for flow, entry in flows.items():
        lines.append(f"  {_node_id(flow)}[{_quote(f'{flow}: {title(bundle, entry)}')}]")
    home = bundle.states[bundle.root].flow if bundle.root in bundle.states else ""
    seen: dict[tuple[str, str], Edge] = {}
    for spec in bundle.states.values():
        for e in edges(bundle, spec):
            target = bundle.states.get(e.target)
            if target is None or target.flow in (spec.flow, home):
                continue  # every flow leads back to the menu: left out of the overview
            seen.setdefault((spec.flow, target.flow), e)
    for (a, b), e in seen.items():
        lines.append(_mermaid_edge(e, _node_id(a), _node_id(b)))
    lines.append('  commands(["/commands"])')
    for name, sid in sorted(bundle.commands.items()):
        to = bundle.states[sid].flow if sid in bundle.states else sid
        lines.append(f"  commands -.->|{_quote('/' + name)}| {_node_id(to)}")
    return "\n".join(lines) + "\n"


def _dot(bundle: Bundle, flow: str | None) -> str:
    """The same picture as Graphviz DOT (for svg/png)."""

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph flows {", "  rankdir=TB;", '  node [shape=box, fontname="sans-serif"];']
    for spec in bundle.states.values():
        if flow is not None and spec.flow != flow:
            continue
        shape = ", shape=diamond" if spec.branch else ""
        lines.append(f"  {q(spec.id)} [label={q(title(bundle, spec))}{shape}];")
        for e in edges(bundle, spec):
            style = ", style=dashed" if e.dashed else ""
            lines.append(f"  {q(e.source)} -> {q(e.target)} [label={q(e.label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(bundle: Bundle, flow: str | None, fmt: str) -> bytes:
    """Returns the drawing; raises RuntimeError when svg/png cannot be made here."""
    if fmt == "mermaid":
        text = main_mermaid(bundle) if flow is None else flow_mermaid(bundle, flow)
        return text.encode()
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            f"--format {fmt} needs Graphviz's `dot` on PATH (apt-get install graphviz); "
            "--format mermaid works without it"
        )
    done = subprocess.run(
        [dot, f"-T{fmt}"], input=_dot(bundle, flow).encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def main_graph(root: Path, flow: str | None, fmt: str, out: Path | None = None) -> int:
    """Draws ``flow`` (or the overview) as ``fmt`` to ``out`` (stdout when None); exit code."""
    if fmt not in FORMATS:
        print(f"error: unknown format {fmt!r} (use {', '.join(FORMATS)})", file=sys.stderr)
        return 2
    try:
        bundle = load_bundle(root)
    except FlowError as exc:
        print(exc, file=sys.stderr)
        return 1
    flows = sorted({s.flow for s in bundle.states.values()})
    if flow is not None and flow not in flows:
        print(f"error: no flow {flow!r} (flows: {', '.join(flows)})", file=sys.stderr)
        return 2
    try:
        data = render(bundle, flow, fmt)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if out is None:
        if fmt == "mermaid":
            sys.stdout.write(data.decode())
        else:
            sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)
    return 0


def readme(bundle: Bundle) -> str:
    """docs/diagrams/README.md: the overview, inline, and links to every flow's diagram."""
    flows = sorted({s.flow for s in bundle.states.values()})
    links = "\n".join(f"- [{f}]({f}.mmd)" for f in flows)
    return (
        "# Flow diagrams\n\n"
        "Generated by `python -m bot.graph --write` from `flows/` and the zh-Hans wording; "
        "`tests/test_graph.py` fails when they are out of date.\n"
        "Nodes are labelled by the first line of the state's message; dashed edges are typed "
        "intents, skips and automatic branches. The overview leaves out the way back to the "
        "menu that every flow has.\n\n"
        f"```mermaid\n{main_mermaid(bundle)}```\n\n"
        f"Each flow in detail:\n\n{links}\n"
    )


def expected_files(root: Path) -> dict[Path, str]:
    """Every file of docs/diagrams/ with the content it should have."""
    bundle = load_bundle(root)
    folder = root / "docs" / "diagrams"
    files = {folder / "main.mmd": main_mermaid(bundle), folder / "README.md": readme(bundle)}
    for f in sorted({s.flow for s in bundle.states.values()}):
        files[folder / f"{f}.mmd"] = flow_mermaid(bundle, f)
    return files


def write_all(root: Path) -> list[Path]:
    """Rewrites docs/diagrams/ (stale flow files are removed); returns the files changed."""
    files = expected_files(root)
    folder = root / "docs" / "diagrams"
    folder.mkdir(parents=True, exist_ok=True)
    changed: list[Path] = []
    for stale in folder.glob("*.mmd"):
        if stale not in files:
            stale.unlink()
            changed.append(stale)
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.graph", description=__doc__)
    parser.add_argument("flow", nargs="?", help="one flow (default: the overview)")
    parser.add_argument("--format", choices=FORMATS, default="mermaid")
    parser.add_argument("--out", type=Path, help="file to write (default: stdout)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--write", action="store_true", help="refresh docs/diagrams/")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_all(args.root):
            print(f"wrote {path}")
        return 0
    return main_graph(args.root, args.flow, args.format, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
