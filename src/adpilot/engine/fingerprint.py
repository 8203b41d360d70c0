"""Evidence fingerprints: a compact, comparable summary of why a proposal was made.

A fingerprint is `v1;key=value;…` with keys sorted. The rejection memory (guardrail 9) compares a
new proposal's fingerprint with the one stored on a rejected action: a changed categorical part
(direction, class, creative, countries) or a number that moved by more than the material-change
fraction means the evidence changed and the proposal may come back early.
"""

from __future__ import annotations

import math

_VERSION = "v1"


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(sorted(str(v) for v in value))
    return str(value)


def make_fingerprint(action_type: str, **parts: object) -> str:
    items = [("action", action_type), *sorted(parts.items())]
    body = ";".join(f"{k}={_fmt(v)}" for k, v in items)
    return f"{_VERSION};{body}"


def parse_fingerprint(fingerprint: str) -> dict[str, str] | None:
    pieces = fingerprint.split(";")
    if not pieces or pieces[0] != _VERSION:
        return None
    out: dict[str, str] = {}
    for piece in pieces[1:]:
        key, sep, value = piece.partition("=")
        if not sep:
            return None
        out[key] = value
    return out


def _as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def evidence_changed(old: str | None, new: str, material_change: float) -> bool:
    """True when the evidence behind `new` differs materially from the rejected `old`.

    An unknown or unreadable old fingerprint counts as unchanged: the rejection stands.
    """
    if old is None:
        return False
    before, after = parse_fingerprint(old), parse_fingerprint(new)
    if before is None or after is None:
        return False
    if before.keys() != after.keys():
        return True
    for key, old_value in before.items():
        new_value = after[key]
        a, b = _as_number(old_value), _as_number(new_value)
        if a is not None and b is not None:
            if abs(b - a) > material_change * max(abs(a), 1e-9):
                return True
        elif old_value != new_value:
            return True
    return False
