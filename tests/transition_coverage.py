"""Transition coverage of the flows: which states and transitions the dialogue tests exercised.

A transition is a (source state, target state) pair the flows declare: a button, a state's own
intent, a slot's answer or skip, or a branch rule. Commands and global intents work from every
state, so they are not counted as transitions of their own (their targets count as states).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.spec import Bundle

#: The thresholds the dialogue tests must reach.
MIN_STATES = 1.0
MIN_TRANSITIONS = 0.95


def declared_transitions(bundle: Bundle) -> set[tuple[str, str]]:
    """Every (source, target) pair the flows declare."""
    pairs: set[tuple[str, str]] = set()
    for sid, spec in bundle.states.items():
        pairs.update((sid, b.route.to) for b in spec.buttons)
        pairs.update((sid, r.to) for r in spec.intents.values())
        if spec.slot:
            pairs.update({(sid, spec.slot.to), (sid, spec.slot.skip)})
        pairs.update((sid, r.to) for r in spec.branch)
    return pairs


@dataclass(frozen=True)
class Report:
    """What was exercised against what exists."""

    states: set[str]
    missing_states: list[str]
    transitions: set[tuple[str, str]]
    missing_transitions: list[tuple[str, str]]

    @property
    def state_ratio(self) -> float:
        return 1 - len(self.missing_states) / len(self.states) if self.states else 1.0

    @property
    def transition_ratio(self) -> float:
        n = len(self.transitions)
        return 1 - len(self.missing_transitions) / n if n else 1.0

    @property
    def ok(self) -> bool:
        return self.state_ratio >= MIN_STATES and self.transition_ratio >= MIN_TRANSITIONS

    def summary(self) -> str:
        lines = [
            "flow transition coverage: "
            f"states {len(self.states) - len(self.missing_states)}/{len(self.states)} "
            f"({self.state_ratio:.1%}, need {MIN_STATES:.0%}), "
            f"transitions {len(self.transitions) - len(self.missing_transitions)}/"
            f"{len(self.transitions)} ({self.transition_ratio:.1%}, need {MIN_TRANSITIONS:.0%})"
        ]
        if self.missing_states:
            lines.append("  states never reached: " + ", ".join(self.missing_states))
        if self.missing_transitions:
            lines.append("  transitions never taken:")
            lines.extend(f"    {a} -> {b}" for a, b in self.missing_transitions)
        return "\n".join(lines)


def report(bundle: Bundle, states: set[str], transitions: set[tuple[str, str]]) -> Report:
    """Compares what the dialogues visited with what the flows declare."""
    declared = declared_transitions(bundle)
    return Report(
        set(bundle.states),
        sorted(set(bundle.states) - states),
        declared,
        sorted(declared - transitions),
    )
