"""User threshold rules (`/v1/rules`) evaluated on the engine's closed bins. Pure, no I/O.

A rule sums one series of a brand (the rule's topic, optionally one platform and one
language) over its last `window_minutes` of closed bins, the same bins the built-in
detectors see, and fires when the metric crosses the threshold: once per crossing (it
re-arms when the metric is back on the other side). A `<=` rule judges whole windows only
(a window still filling is low by construction). A rule whose evaluation fails is
reported and left out until it is changed. Windows are saved with the detector state and
restored after a restart; they start empty when a rule is created or changed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, NamedTuple

from services.alerting.detect.alert import Alert
from services.alerting.detect.bins import Bin
from services.alerting.detect.signals import Signal

RULE_PREFIX = "rule:"  # a signal's `rule` for a user rule: "rule:<name>"


class Measures(NamedTuple):
    """What a threshold metric is computed from: sums over a window."""

    volume: int = 0
    negative: int = 0
    scored: int = 0
    sentiment_sum: float = 0.0


def metric_value(metric: str, m: Measures) -> float | None:
    """The rule metric over `m`; None when undefined (a ratio over nothing)."""
    if metric == "negative":
        return float(m.negative)
    if metric == "volume":
        return float(m.volume)
    if metric == "negative_ratio":
        return m.negative / m.volume if m.volume else None
    if metric == "mean_score":
        return m.sentiment_sum / m.scored if m.scored else None
    raise ValueError(f"unknown metric {metric!r}")


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """One enabled stored rule, as the engine evaluates it."""

    rule_id: int
    name: str
    brand: str  # "*" for every brand
    metric: str
    window_minutes: int
    threshold: float
    comparison: Literal[">=", "<="] = ">="
    min_volume: int = 0
    topic: str = ""
    platform: str | None = None
    language: str | None = None
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = "SEV3"

    @property
    def signal_rule(self) -> str:
        """The `rule` of the signals and incidents it raises."""
        return f"{RULE_PREFIX}{self.name}"

    def applies_to(self, brand: str) -> bool:
        """True when the rule watches `brand`."""
        return self.brand in ("*", brand)

    def measures(self, b: Bin | None) -> Measures:
        """The bin's measures the rule counts (its platform and language only, if set)."""
        if b is None:
            return Measures()
        if self.platform is None and self.language is None:
            return Measures(b.count, b.negatives, b.scored, b.sentiment_sum)
        volume = negative = scored = 0
        total = 0.0
        for key, (count, neg, sc, s_sum) in b.dims.items():
            platform, language = key.split("|", 1)
            if self.platform not in (None, platform) or self.language not in (None, language):
                continue
            volume, negative, scored = volume + int(count), negative + int(neg), scored + int(sc)
            total += s_sum
        return Measures(volume, negative, scored, total)

    @property
    def gated(self) -> bool:
        """True when a firing must pass the distinct-author gate (a count that falls below its
        threshold cannot be a flood: those are not gated)."""
        return not (self.comparison == "<=" and self.metric in ("volume", "negative"))

    def crossed(self, value: float) -> bool:
        """True when `value` is on the firing side of the threshold."""
        return value >= self.threshold if self.comparison == ">=" else value <= self.threshold


@dataclass(slots=True)
class _Window:
    minutes: deque[Measures]
    armed: bool = True


@dataclass(slots=True)
class RuleFiring:
    """A rule that fired on a brand's minute."""

    rule: ThresholdRule
    alert: Alert


@dataclass(slots=True)
class RuleStep:
    """What one minute of one brand did to the rules."""

    fired: list[RuleFiring] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)  # (rule name, reason)


class RuleBook:
    """The loaded rules and their per-brand windows."""

    def __init__(self, rules: Iterable[ThresholdRule] = (), *, bin_seconds: int = 60) -> None:
        self.bin_seconds = bin_seconds
        self.rules: dict[str, ThresholdRule] = {}
        self._windows: dict[tuple[str, str], _Window] = {}
        self.replace(rules)

    def replace(self, rules: Iterable[ThresholdRule]) -> None:
        """Load new rules; an unchanged rule keeps its windows, a changed one starts afresh."""
        new = {r.name: r for r in rules}
        self._windows = {
            key: w for key, w in self._windows.items() if self.rules.get(key[0]) == new.get(key[0])
        }
        self.rules = new

    def _bins(self, rule: ThresholdRule) -> int:
        return max(1, math.ceil(rule.window_minutes * 60 / self.bin_seconds))

    def observe(self, brand: str, group: Sequence[Bin]) -> RuleStep:
        """Feed one closed minute of `brand` (one bin per series) to every rule for it."""
        step = RuleStep()
        if not group or not self.rules:
            return step
        by_topic = {b.topic: b for b in group}
        end = group[0].end
        for rule in list(self.rules.values()):
            if not rule.applies_to(brand):
                continue
            try:
                firing = self._evaluate(rule, brand, by_topic.get(rule.topic), end)
            except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
                # Left out until the rule is changed (a reload with a new definition).
                del self.rules[rule.name]
                step.broken.append((rule.name, f"{type(exc).__name__}: {exc}"))
                continue
            if firing is not None:
                step.fired.append(firing)
        return step

    def _evaluate(
        self, rule: ThresholdRule, brand: str, b: Bin | None, end: datetime
    ) -> RuleFiring | None:
        key = (rule.name, brand)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(deque(maxlen=self._bins(rule)))
        window.minutes.append(rule.measures(b))
        if rule.comparison == "<=" and len(window.minutes) < (window.minutes.maxlen or 0):
            return None  # a partial window is low by construction: judge whole windows only
        total = Measures(*(sum(col) for col in zip(*window.minutes, strict=True)))
        value = None if total.volume < rule.min_volume else metric_value(rule.metric, total)
        if value is None or not rule.crossed(value):
            window.armed = True
            return None
        if not window.armed:
            return None
        window.armed = False
        alert = Alert(
            ts=end,
            rule=rule.signal_rule,
            score=value,
            value=value,
            baseline=rule.threshold,
            details={
                "rule_id": rule.rule_id,
                "metric": rule.metric,
                "comparison": rule.comparison,
                "threshold": rule.threshold,
                "window_minutes": rule.window_minutes,
                "volume": total.volume,
            },
        )
        return RuleFiring(rule, alert)

    def export(self, brand: str) -> dict[str, Any]:
        """The brand's rule windows as a JSON-ready dict (kept with the detector state)."""
        return {
            name: {
                "rule": _fingerprint(self.rules[name]),
                "minutes": [list(m) for m in window.minutes],
                "armed": window.armed,
            }
            for (name, owner), window in self._windows.items()
            if owner == brand and name in self.rules
        }

    def restore(self, brand: str, data: dict[str, Any]) -> None:
        """Restore the windows of `export`; a rule changed since (or gone) starts afresh."""
        for name, saved in data.items():
            rule = self.rules.get(name)
            if rule is None or saved.get("rule") != _fingerprint(rule):
                continue
            minutes = deque(
                (Measures(int(v), int(n), int(s), float(t)) for v, n, s, t in saved["minutes"]),
                maxlen=self._bins(rule),
            )
            self._windows[(name, brand)] = _Window(minutes, armed=bool(saved["armed"]))

    def forget(self, brand: str) -> None:
        """Drop the brand's windows."""
        self._windows = {key: w for key, w in self._windows.items() if key[1] != brand}

    def rearm(self, rule: ThresholdRule, brand: str) -> None:
        """Forget a firing the author gate refused, so a credible crossing may fire next."""
        window = self._windows.get((rule.name, brand))
        if window is not None:
            window.armed = True


def _fingerprint(rule: ThresholdRule) -> str:
    """What identifies a rule's definition: a saved window only fits the same definition."""
    return repr(astuple(rule))


def with_rule_severity(signal: Signal, rule: ThresholdRule) -> Signal:
    """`signal` at the severity its rule sets (a competitor's stays SEV4), its reasons led by
    the rule's crossing."""
    value = signal.value
    reason = (
        f"rule {rule.name}: {rule.metric} {value:g} {rule.comparison} {rule.threshold:g} "
        f"over {rule.window_minutes} min"
    )
    severity = replace(
        signal.severity,
        level=signal.severity.level if signal.competitor else rule.severity,
        reasons=[reason, *signal.severity.reasons],
    )
    return replace(signal, severity=severity)
