"""``--fail-if``: conditions on the run's numbers that fail it with their own exit code.

``--fail-if 'p99>50ms'`` fails the run when the 99th percentile is above 50 ms; so does
``errors>0`` with any failed request, ``error_rate>1%``, or ``rps<500``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

LATENCIES = ("min", "mean", "stddev", "p50", "p90", "p95", "p99", "p99.9", "max")
# Each metric with the units it accepts (the first is its own) and how a value converts to it.
_UNITS: dict[str, dict[str, float]] = {
    **{name: {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001} for name in LATENCIES},
    "errors": {"": 1.0},
    "error_rate": {"%": 1.0},
    "rps": {"": 1.0},
}
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_SYNTAX = re.compile(
    r"\s*(?P<metric>[a-z_]+|p\d+(?:\.\d+)?)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>[a-zµ%]*)\s*"
)


@dataclass(frozen=True)
class Threshold:
    """One ``--fail-if`` condition, its value converted to the metric's own unit."""

    text: str
    metric: str
    op: str
    limit: float

    @property
    def unit(self) -> str:
        return next(iter(_UNITS[self.metric]))

    def crossed(self, value: float | None) -> bool:
        """True when the run fails this condition; a value that could not be measured does."""
        return value is None or _OPERATORS[self.op](value, self.limit)


def parse_threshold(text: str) -> Threshold:
    """Raise ValueError with the accepted forms unless ``text`` is a known condition."""
    match = _SYNTAX.fullmatch(text)
    if match is None or match["metric"] not in _UNITS:
        raise ValueError(
            f"cannot read {text!r}: expected METRIC<VALUE or METRIC>VALUE "
            f"(also <= and >=), METRIC one of {', '.join(_UNITS)}; e.g. 'p99>50ms'"
        )
    metric, unit = match["metric"], match["unit"]
    units = _UNITS[metric]
    if unit == "" and metric in LATENCIES:
        unit = "ms"
    if unit not in units:
        accepted = " or ".join(repr(u) if u else "no unit" for u in units)
        raise ValueError(f"cannot read {text!r}: {metric} takes {accepted}")
    limit = float(match["value"]) * units[unit]
    return Threshold(text.strip(), metric, match["op"], limit)


def evaluate(
    thresholds: list[Threshold], measured: Mapping[str, float | None]
) -> list[dict[str, object]]:
    """Each condition with the measured value and whether the run failed it."""
    return [
        {
            "fail_if": t.text,
            "value": measured.get(t.metric),
            "unit": t.unit,
            "failed": t.crossed(measured.get(t.metric)),
        }
        for t in thresholds
    ]
