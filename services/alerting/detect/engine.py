"""Detection engine: bins -> detectors -> alerts -> gated, assessed signals. Pure, no I/O.

Per brand: a volume detector (spike, count and sustained paths) on the brand series and on
each crisis-topic series, negative-share, emotion-burst and engagement-velocity detectors on
the brand series, the critical-keyword rule per mention, and a cold-start negative-burst rule
while the brand has no credible volume baseline; young series borrow the brands' pooled day
shape (`detect.population`). Volume and ratio alerts must pass the distinct-author gate; a
gated alert re-arms its detector, so a bot flood neither pages nor uses up the cooldown a real
crisis would need. Signals carry severity, scope, story topic (`detect.assess`); records are
in `detect.signals`, a brand's detectors and their state rows in `detect.brand_detectors`;
`detect.stories` groups stories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from services.alerting.detect.alert import Alert, from_epoch
from services.alerting.detect.assess import assess, gate, rearm
from services.alerting.detect.authors import AuthorGateConfig
from services.alerting.detect.bins import BRAND_TOPIC, Bin, BinAggregator
from services.alerting.detect.brand_detectors import VELOCITY, BrandDetectors, Series
from services.alerting.detect.burst import NegativeBurstDetector
from services.alerting.detect.forecast import with_projection
from services.alerting.detect.keywords import KeywordConfig, critical_mention
from services.alerting.detect.lift import LiftLookup, NoLift
from services.alerting.detect.population import ShapePool
from services.alerting.detect.ratios import (
    EMOTION_BURST,
    NEGATIVE_SHARE,
)
from services.alerting.detect.refresh import refreshes
from services.alerting.detect.signals import Decisions, Gated, Recovery, RollupMinute, Signal
from services.alerting.detect.spikes import SpikeConfig, SpikeDetector, preset
from services.alerting.detect.state_keys import state_key
from services.alerting.detect.thresholds import RuleBook, with_rule_severity
from services.alerting.detect.twins import copy_twins, quiet_twins
from shared.contracts.topics import topic_contract
from shared.schemas import ScoredMention

RULES = "user_rules"  # the `detector_state` row of a brand's user-rule windows
_BRAND_RULES = (NEGATIVE_SHARE, EMOTION_BURST, VELOCITY)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything the engine needs; built from `AlertingSettings` by the service."""

    bin_seconds: int = 60
    preset: str = "balanced"
    # The crisis topics of the topic contract, each watched as its own series.
    topics: tuple[str, ...] = field(default_factory=lambda: topic_contract().crisis_topics)
    lateness_s: float = 20.0
    idle_flush_s: float = 30.0
    max_fill_bins: int = 1440
    gate: AuthorGateConfig = field(default_factory=AuthorGateConfig)
    keywords: KeywordConfig = field(default_factory=KeywordConfig)
    gate_window_minutes: float = 15.0
    dominance: float = 0.5
    # The story's topic is judged on the latest bins: an hour of calm must not hide it.
    dominance_bins: int = 10
    keyword_cooldown_minutes: float = 360.0
    burst_window_s: int = 300
    burst_min_negative: int = 20
    burst_min_authors: int = 5
    burst_cooldown_s: int = 600
    recovery_minutes: float = 60.0
    recovery_ratio: float = 1.5
    young_model: bool = False  # the gamma-Poisson level model of young series (`detect.young`)

    @property
    def gate_bins(self) -> int:
        """Bins in the author-gate and scope window."""
        return max(1, round(self.gate_window_minutes * 60 / self.bin_seconds))

    def spike_config(self, name: str | None = None) -> SpikeConfig:
        """The volume-spike config of preset `name` (default: the selected preset)."""
        cfg = preset(name or self.preset, bin_seconds=self.bin_seconds)
        young = replace(cfg.counts.young, enabled=self.young_model)
        return replace(cfg, counts=replace(cfg.counts, young=young))


class DetectionEngine:
    """Streaming crisis detection over scored mentions; state exported per detector."""

    def __init__(self, config: EngineConfig | None = None, *, lift: LiftLookup | None = None):
        self.config = config or EngineConfig()
        self.lift: LiftLookup = lift or NoLift()
        self.bins = BinAggregator(
            bin_seconds=self.config.bin_seconds,
            lateness_s=self.config.lateness_s,
            idle_flush_s=self.config.idle_flush_s,
            max_fill_bins=self.config.max_fill_bins,
            topics=self.config.topics,
        )
        self._spike_cfgs = {self.config.preset: self.config.spike_config()}
        # Brands whose stored settings name their own preset (`/v1/brands/{brand}/settings`).
        self._presets: dict[str, str] = {}
        self._brands: dict[str, BrandDetectors] = {}
        self._burst = NegativeBurstDetector(
            window=timedelta(seconds=self.config.burst_window_s),
            min_negative=self.config.burst_min_negative,
            min_authors=self.config.burst_min_authors,
            cooldown=timedelta(seconds=self.config.burst_cooldown_s),
        )
        self.open_stories: set[tuple[str, str]] = set()
        self.shapes = ShapePool()  # the day shape young series borrow, pooled hourly
        self.competitors: set[str] = set()  # watched competitors: their signals are SEV4
        # User rules (`/v1/rules`), replaced by the worker when they change.
        self.rules = RuleBook(bin_seconds=self.config.bin_seconds)

    # -- brands ---------------------------------------------------------------------------

    def knows(self, brand: str) -> bool:
        """True when the brand's detectors exist (fresh, restored or rebuilt)."""
        return brand in self._brands

    def preset_of(self, brand: str) -> str:
        """The sensitivity preset the brand's volume-spike detectors run with."""
        return self._presets.get(brand, self.config.preset)

    def forget(self, brand: str) -> None:
        """Drop the brand's detectors, bins and windows (another worker took it over)."""
        self._brands.pop(brand, None)
        self.bins.forget(brand)
        self._burst.forget(brand)
        self.rules.forget(brand)

    def _spike_cfg(self, brand: str) -> SpikeConfig:
        name = self.preset_of(brand)
        cfg = self._spike_cfgs.get(name)
        if cfg is None:
            cfg = self._spike_cfgs[name] = self.config.spike_config(name)
        return cfg

    def set_presets(self, presets: Mapping[str, str]) -> list[str]:
        """Replace the per-brand presets; return the brands whose preset changed (their
        detectors keep their learned baselines and switch thresholds)."""
        for name in presets.values():
            self.config.spike_config(name)  # ValueError for an unknown preset, before any change
        before = {b: self.preset_of(b) for b in {*self._presets, *presets}}
        self._presets = dict(presets)
        changed = sorted(b for b, name in before.items() if self.preset_of(b) != name)
        for brand in changed:
            state = self._brands.get(brand)
            if state is None:
                continue
            cfg = self._spike_cfg(brand)
            for series in state.series.values():
                series.spike = SpikeDetector.from_dict(series.spike.to_dict(), config=cfg)
        return changed

    def _brand(self, brand: str) -> BrandDetectors:
        state = self._brands.get(brand)
        if state is None:
            state = BrandDetectors.fresh(
                brand,
                self.config.topics,
                spike=self._spike_cfg(brand),
                gate_bins=self.config.gate_bins,
            )
            self._brands[brand] = state
        return state

    def _series(self, brand: BrandDetectors, topic: str) -> Series:
        return brand.series_of(topic, self._spike_cfg(brand.name), self.config.gate_bins)

    def _unexplained(self, brand: str, negatives: int) -> bool:
        """True when the brand has no credible baseline, or one far below `negatives`."""
        spike = self._brand(brand).series[BRAND_TOPIC].spike
        if spike.short.history_hours < spike.config.warmup_hours:
            return True
        mu, _ = spike.short.expected(spike.last_ts or 0.0)
        per_window = mu * mu * self.config.burst_window_s / (spike.config.window_minutes * 60)
        return negatives >= 10 * max(per_window, 1.0)

    # -- live path ------------------------------------------------------------------------

    def observe(self, scored: ScoredMention, *, wall_now: float) -> Decisions:
        """Count one mention into the bins; return the per-mention rules' decisions."""
        m = scored.mention
        out = Decisions(brands=set(m.brands))
        self.competitors.difference_update(m.brands)  # the latest mention says which are
        self.competitors.update(m.watched_competitors)
        for brand in dict.fromkeys(m.brands):
            self._brand(brand)
        late = set(self.bins.add(scored, wall_now=wall_now))
        out.late = len(late)
        # Close this mention's due bins now, so per-mention rules see up-to-date detectors.
        for group in self.bins.close(wall_now=wall_now, brands=m.brands):
            out.extend(self.process_group(group))
        for brand in dict.fromkeys(m.brands):
            if brand in late:
                continue
            out.extend(self._keyword(brand, scored))
        # An `updated` event is not a new negative post: only its engagement gain counts.
        bursts = self._burst.observe(scored) if m.kind != "updated" else []
        for burst in bursts:
            if burst.brand in late or not self._unexplained(burst.brand, burst.negatives):
                continue  # a warm brand's usual volume explains it: baseline rules decide
            window = list(self._brand(burst.brand).series[BRAND_TOPIC].recent)
            alert = Alert(
                ts=burst.at,
                rule=burst.rule,
                score=float(burst.negatives),
                value=float(burst.negatives),
                baseline=0.0,
                details={
                    "negatives": burst.negatives,
                    "authors": burst.authors,
                    "ratio": burst.negatives / self.config.burst_min_negative,
                },
            )
            out.signals.append(
                self._signal(burst.brand, BRAND_TOPIC, alert, window, m.ingested_at, scored)
            )
        return out

    def _keyword(self, brand: str, scored: ScoredMention) -> Decisions:
        out = Decisions()
        m = scored.mention
        alert = critical_mention(
            ts=m.created_at,
            topics=scored.topics,
            author_reach=m.author_reach,
            engagement=m.engagement.total,
            config=self.config.keywords,
        )
        if alert is None:
            return out
        state = self._brand(brand)
        topic = str(alert.details["topics"][0])
        epoch = m.created_at.timestamp()
        last = state.keyword_last.get(topic)
        if last is not None and abs(epoch - last) < self.config.keyword_cooldown_minutes * 60:
            return out
        state.keyword_last[topic] = epoch
        window = list(state.series[BRAND_TOPIC].recent)
        out.signals.append(self._signal(brand, topic, alert, window, m.ingested_at, scored))
        return out

    def advance(self, *, wall_now: float) -> Decisions:
        """Close the bins that are due and run the per-bin detectors on them."""
        out = Decisions()
        for group in self.bins.close(wall_now=wall_now):
            out.extend(self.process_group(group))
        return out

    def process_group(self, group: Sequence[Bin], *, emit: bool = True) -> Decisions:
        """Feed one minute of every series of one brand to the detectors."""
        out = Decisions(bins=len(group))
        if not group:
            return out
        brand_name = group[0].brand
        out.brands.add(brand_name)
        brand = self._brand(brand_name)
        by_topic = {b.topic: b for b in group}
        end = group[0].end
        lift = max(1.0, self.lift.lift(brand_name, end))
        for b in group:
            self._series(brand, b.topic).recent.append(b)
        if self.shapes.due(end.timestamp()):
            self.shapes.refresh(s.spike for b in self._brands.values() for s in b.series.values())
        alerts: list[tuple[str, Alert, Any]] = []
        for topic, b in by_topic.items():
            det = self._series(brand, topic).spike
            alert = det.update(end, b.count, expected_lift=lift, negatives=b.negatives)
            if alert is not None:
                alerts.append((topic, with_projection(alert, det.counts), det))
        top = by_topic.get(BRAND_TOPIC) or Bin(brand=brand_name, topic=BRAND_TOPIC, start=0)
        for det_share, part in ((brand.neg_share, top.negatives), (brand.emotion, top.burst)):
            alert = det_share.update(end, part, top.scored)
            if alert is not None:
                alerts.append((BRAND_TOPIC, alert, det_share))
        alert = brand.velocity.update(end, top.neg_engagement)
        if alert is not None:
            alerts.append((BRAND_TOPIC, alert, brand.velocity))
        if emit:
            for topic, alert, det in alerts:
                window = list(self._series(brand, topic).recent)
                decision = gate(window, self.config.gate)
                if decision is not None:
                    rearm(det)
                    out.gated.append(Gated(brand_name, topic, alert.rule, decision))
                    continue
                tip = by_topic[topic].last_ingested if topic in by_topic else None
                tipped = from_epoch(tip) if tip is not None else None
                out.signals.append(self._signal(brand_name, topic, alert, window, tipped, None))
            out.extend(self._user_rules(brand_name, group, by_topic))
            out.recoveries += self._recovery(brand_name, brand, end)
            out.refreshes += refreshes(self.open_stories, brand_name, brand.series, end)
        return out

    def _user_rules(
        self, brand_name: str, group: Sequence[Bin], by_topic: dict[str, Bin]
    ) -> Decisions:
        """Run the user rules on a live minute; their firings pass the same author gate."""
        out = Decisions()
        step = self.rules.observe(brand_name, group)
        out.broken_rules += step.broken
        for firing in step.fired:
            rule, alert = firing.rule, firing.alert
            series = self._brand(brand_name).series.get(rule.topic)
            window = list(series.recent) if series is not None else []
            decision = gate(window, self.config.gate) if rule.gated else None
            if decision is not None:
                self.rules.rearm(rule, brand_name)
                out.gated.append(Gated(brand_name, rule.topic, alert.rule, decision))
                continue
            tip = by_topic[rule.topic].last_ingested if rule.topic in by_topic else None
            tipped = from_epoch(tip) if tip is not None else None
            signal = self._signal(brand_name, rule.topic, alert, window, tipped, None)
            out.signals.append(with_rule_severity(signal, rule))
        return out

    def _story_topic(self, brand: str, topic: str) -> str:
        """Return the story topic: the series topic, or a dominant topic of the brand window."""
        if topic:
            return topic
        state = self._brand(brand)
        last = self.config.dominance_bins
        total = sum(b.count for b in list(state.series[BRAND_TOPIC].recent)[-last:])
        if total <= 0:
            return BRAND_TOPIC
        best, best_count = BRAND_TOPIC, 0
        for name, series in state.series.items():
            if name == BRAND_TOPIC:
                continue
            count = sum(b.count for b in list(series.recent)[-last:])
            if count > best_count:
                best, best_count = name, count
        return best if best_count / total >= self.config.dominance else BRAND_TOPIC

    def _signal(
        self,
        brand: str,
        topic: str,
        alert: Alert,
        window: Sequence[Bin],
        tipping: datetime | None,
        mention: ScoredMention | None,
    ) -> Signal:
        # Ratio, velocity, keyword, burst and user-rule alerts carry the brand's volume
        # projection (volume alerts carry their own series').
        if "projection" not in alert.details:
            brand_volume = self._brand(brand).series[BRAND_TOPIC].spike.counts
            alert = with_projection(alert, brand_volume)
        signal = assess(
            brand=brand,
            topic=topic,
            story=self._story_topic(brand, topic),
            alert=alert,
            window=window,
            brand_window=list(self._brand(brand).series[BRAND_TOPIC].recent),
            tipping=tipping,
            mention=mention,
        )
        return signal.as_competitor() if brand in self.competitors else signal

    def _recovery(self, brand_name: str, brand: BrandDetectors, end: datetime) -> list[Recovery]:
        """Track calm minutes of the series of open stories; propose recovery once per story."""
        out: list[Recovery] = []
        need = max(1, round(self.config.recovery_minutes * 60 / self.config.bin_seconds))
        for story_brand, topic in self.open_stories:
            if story_brand != brand_name:
                continue
            series = brand.series.get(topic) or brand.series[BRAND_TOPIC]
            cfg = series.spike.config
            mu, _ = series.spike.short.expected(end)
            recent = list(series.recent)[-cfg.window_bins :]
            count = sum(b.count for b in recent) * cfg.window_bins / max(1, len(recent))
            calm = count <= max(cfg.min_count, self.config.recovery_ratio * mu * mu)
            series.calm = series.calm + 1 if calm else 0
            if series.calm == need:
                out.append(Recovery(brand_name, topic, end, self.config.recovery_minutes))
        return out

    # -- state ----------------------------------------------------------------------------

    def export(self, brand: str) -> dict[str, dict[str, Any]]:
        """Return the brand's state as `detector_state` rows: key -> JSON-ready dict."""
        state = self._brand(brand)
        rows = state.export()
        rows[state_key(brand, BRAND_TOPIC, RULES)] = self.rules.export(brand)
        rows[state_key(brand, BRAND_TOPIC, "engine")] = {
            "bins": self.bins.to_dict(brand),
            **state.export_windows(),
            "burst": self._burst.to_dict(brand),
        }
        return rows

    def load(self, brand: str, rows: dict[str, dict[str, Any]], *, wall_now: float) -> None:
        """Restore a brand from `export` rows, with the current configs (not the stored ones)."""
        state = self._brand(brand)
        spike, gate_bins = self._spike_cfg(brand), self.config.gate_bins
        state.load(rows, spike=spike, gate_bins=gate_bins)
        stored_rules = rows.get(state_key(brand, BRAND_TOPIC, RULES))
        if stored_rules is not None:
            self.rules.restore(brand, stored_rules)
        engine = rows.get(state_key(brand, BRAND_TOPIC, "engine"))
        if engine is None:
            return
        if engine.get("bins"):
            self.bins.restore(brand, engine["bins"], wall_now=wall_now)
        state.load_windows(engine, spike=spike, gate_bins=gate_bins)
        if engine.get("burst"):
            self._burst.restore(brand, engine["burst"])

    def replay(
        self,
        brand: str,
        minutes: Iterable[RollupMinute],
        *,
        until: float,
        emit: bool,
        since: float | None = None,
        twins: Mapping[str, str] | None = None,
    ) -> Decisions:
        """Feed stored per-minute rollups (every minute from `since`, else the first row, up
        to `until`, zeros filled).

        With `emit=False` this rebuilds state (alerts are dropped, but the detectors' cooldowns
        remember them); with `emit=True` it is a backtest through the live code path. Replaying
        consecutive spans (`since` = the previous `until`) equals replaying them at once.
        `twins` (from `quiet_twins`, no rows of theirs given): their bins only join the gate
        window, and their detectors wait for `copy_twins`.
        """
        twins = twins or {}
        out = Decisions()
        by_start: dict[float, list[RollupMinute]] = {}
        for row in minutes:
            if (since is None or row.start >= since) and row.start < until:
                by_start.setdefault(row.start, []).append(row)
        if not by_start and since is None:
            return out
        state = self._brand(brand)
        bs = self.config.bin_seconds
        start = min(by_start) if since is None else since
        while start < until:
            rows = {r.topic: r for r in by_start.get(start, [])}
            group = []
            for topic in sorted(set(state.series) | set(rows)):
                b = Bin(brand=brand, topic=topic, start=start, seconds=bs)
                r = rows.get(topic)
                if r is not None:
                    b.count, b.negatives, b.scored = r.count, r.negatives, r.scored
                    b.burst = round(r.burst)
                    b.neg_engagement = r.neg_engagement
                    b.distinct_hint = r.distinct_authors
                if topic in twins:
                    state.series[topic].recent.append(b)
                    out.bins += 1
                else:
                    group.append(b)
            out.extend(self.process_group(group, emit=emit))
            start += bs
        return out

    def quiet_twins(self, brand: str, busy: Iterable[str]) -> dict[str, str]:
        """Twin topic -> leader of the brand's quiet twins (`detect.twins`): while `replay` is
        given them, only the leader's detector is fed; `copy_twins` then copies it."""
        return quiet_twins(self._brand(brand).series, busy)

    def copy_twins(self, brand: str, twins: Mapping[str, str]) -> None:
        """Give each twin its leader's detector after a rebuild (a forgotten brand: none)."""
        state = self._brands.get(brand)
        if state is not None:
            copy_twins(state.series, twins)
