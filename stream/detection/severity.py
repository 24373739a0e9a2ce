"""How bad an alert is, in one word the page sorts by and a pager can route on.

Significance says how *sure* we are; a communications team also needs to know how *big* it is. Two
alerts both at p = 1e-9 can be forty extra complaints on a quiet topic or four thousand on the brand. The
severity is taken from the window that fired, at the moment it fired, from two numbers a person can check
in the alert itself: the extra negative tweets over what is usual for that window, and how many times the
usual they are.

- ``critical``: at least 200 extra negative tweets at twice the usual or more, or 50 at three times: a
  wave that is being seen;
- ``high``: at least 30 extra at 1.5 times the usual;
- ``moderate``: the rest (significant, but small in absolute terms: worth a look, not a phone call).
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["critical", "high", "moderate"]
SEVERITY_RANK: dict[str, int] = {"critical": 3, "high": 2, "moderate": 1}


def severity_of(negatives: int, expected: float) -> Severity:
    """The severity of ``negatives`` negative tweets where ``expected`` are usual for the window."""
    excess = negatives - expected
    ratio = negatives / expected if expected > 0 else float("inf")
    if (excess >= 200 and ratio >= 2.0) or (excess >= 50 and ratio >= 3.0):
        return "critical"
    if excess >= 30 and ratio >= 1.5:
        return "high"
    return "moderate"


def rank(severity: str | None) -> int:
    """Sort key: higher is worse; an alert stored before severities existed ranks lowest."""
    return SEVERITY_RANK.get(severity or "", 0)
