"""Reads for the API, the admin and the monitoring pages."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from predictions.core.backtest import BlockCounts, Interval, live_verdict, paired_bootstrap
from predictions.core.score_buckets import SCORE_BUCKETS, Counts, LiveFigures, unpack
from predictions.core.scorers import BASELINE, ML
from predictions.models import (
    ConfigAuditEntry,
    LiveDay,
    LiveHour,
    LiveMinute,
    ModelVersion,
    Prediction,
    ServiceConfig,
    StreamLease,
    StreamOffset,
)


def service_config_get() -> ServiceConfig:
    return ServiceConfig.load()


# What a list of predictions shows of each row (the API's history and latest): the model
# version's name only, never its artifact, reference sample, metrics or card.
PREDICTION_FIELDS = ("id", "product_id", "event_ts", "created_at", "variant", "score", "label",
                     "threshold", "shadow_variant", "shadow_score", "features",
                     "model_version__name")


def prediction_latest(*, product_id: str) -> Prediction | None:
    return (
        Prediction.objects.filter(product_id=product_id)
        .select_related("model_version").only(*PREDICTION_FIELDS)
        .order_by("-event_ts", "-id")
        .first()
    )


def prediction_list(*, product_id: str | None = None, variant: str | None = None,
                    since: datetime | None = None, until: datetime | None = None) -> QuerySet:
    """Predictions newest first; `since` is inclusive and `until` exclusive (event time).
    Each row carries its model version's name, not the version's blobs."""
    qs = (Prediction.objects.select_related("model_version").only(*PREDICTION_FIELDS)
          .order_by("-event_ts", "-id"))
    if product_id:
        qs = qs.filter(product_id=product_id)
    if variant:
        qs = qs.filter(variant=variant)
    if since is not None:
        qs = qs.filter(event_ts__gte=since)
    if until is not None:
        qs = qs.filter(event_ts__lt=until)
    return qs


def prediction_products() -> list[str]:
    """Every product with a stored prediction, by walking the (product, time) index one
    product at a time: an index probe per product, however many rows each has."""
    products: list[str] = []
    ordered = Prediction.objects.order_by("product_id").values_list("product_id", flat=True)
    while (product := ordered.filter(product_id__gt=products[-1] if products else "")
           .first()) is not None:
        products.append(product)
    return products


def model_version_latest() -> ModelVersion | None:
    return ModelVersion.objects.order_by("-created_at", "-id").first()


# Fewer matured rows than this behind a live figure and it is shown as "too few rows".
LIVE_MIN_ROWS = 200
# A live interval rests on at least this many time blocks (shorter blocks in a short window).
LIVE_MIN_BLOCKS = 12


def _floor(at: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, tz=UTC)


def _ceil(at: datetime, seconds: int) -> datetime:
    floor = _floor(at, seconds)
    return floor if floor == at else floor + timedelta(seconds=seconds)


# The rollup levels, finest first: (model, its time field, seconds per row).
LIVE_LEVELS: tuple[tuple[type, str, int], ...] = (
    (LiveMinute, "minute", 60), (LiveHour, "hour", 3600), (LiveDay, "day", 86400))


def live_window_parts(*, since: datetime | None, until: datetime | None,
                      now: datetime) -> list[tuple[type, str, datetime | None, datetime | None]]:
    """Which rollup rows make up a window: (model, time field, from, to) parts, the fewest.

    A window is whole minutes, [since's minute, until's minute). It is covered by minute rows
    up to the first whole hour, hour rows up to the first whole day, day rows while whole days
    fit, then hours and minutes again up to its end (an open end: the current day's row,
    which holds every row matured so far). Past the minute rows' retention
    (LIVE_MINUTE_RETENTION_HOURS) an edge snaps to its day (UTC midnight): a 7-day window
    starts at the midnight before, and reads about 8 day rows per product and variant.
    """
    kept = now - timedelta(hours=settings.LIVE_MINUTE_RETENTION_HOURS)
    start = None if since is None else _floor(since, 60)
    end = None if until is None else _floor(until, 60)
    if start is not None and start < kept:
        start = _floor(start, 86400)
    if end is not None and end < kept:
        end = _floor(end, 86400)
    if start is None:  # everything: whole days up to the end
        start = datetime.fromtimestamp(0, tz=UTC)
    parts: list[tuple[type, str, datetime | None, datetime | None]] = []
    at = start
    for level in range(len(LIVE_LEVELS)):  # up: the finest rows until the next coarser edge
        model, field, seconds = LIVE_LEVELS[level]
        if level + 1 < len(LIVE_LEVELS):
            edge = _ceil(at, LIVE_LEVELS[level + 1][2])
            # open-ended and the coarser edge not reached yet: this level holds the rest
            stop = (None if edge > now else edge) if end is None else \
                max(min(edge, _floor(end, seconds)), at)
        else:  # days: while whole days fit (all of them when the end is open)
            stop = None if end is None else max(_floor(end, seconds), at)
        if stop is None or at < stop:
            parts.append((model, field, at, stop))
        if stop is None:
            return _merge_parts(parts)
        at = stop
    for model, field, seconds in reversed(LIVE_LEVELS[:-1]):  # down to the end
        stop = _floor(end, seconds)
        if at < stop:
            parts.append((model, field, at, stop))
            at = stop
    return _merge_parts(parts)


def _merge_parts(parts: list) -> list:
    """Neighbouring parts of the same level as one (fewer queries)."""
    out: list = []
    for part in parts:
        if out and out[-1][0] is part[0] and out[-1][3] == part[2]:
            out[-1] = (part[0], part[1], out[-1][2], part[3])
        else:
            out.append(part)
    return out


def live_counts(*, since: datetime | None = None, until: datetime | None = None,
                model_version: ModelVersion | None = None, product_id: str | None = None,
                now: datetime | None = None) -> dict[str, Counts]:
    """Each variant's summed rollup counts over a window (see live_window_parts)."""
    counts = {ML: Counts(), BASELINE: Counts()}
    blobs: dict[str, list[bytes]] = {ML: [], BASELINE: []}
    for model, field, lo, hi in live_window_parts(since=since, until=until,
                                                  now=now or timezone.now()):
        rows = model.objects.all()
        if lo is not None:
            rows = rows.filter(**{f"{field}__gte": lo})
        if hi is not None:
            rows = rows.filter(**{f"{field}__lt": hi})
        if model_version is not None:
            rows = rows.filter(model_version=model_version)
        if product_id:
            rows = rows.filter(product_id=product_id)
        for variant, flagged, flagged_positives, brier_sum, buckets in rows.order_by() \
                .values_list("variant", "flagged", "flagged_positives", "brier_sum", "buckets"):
            c = counts.setdefault(variant, Counts())
            c.flagged += flagged
            c.flagged_positives += flagged_positives
            c.brier_sum += brier_sum
            blobs.setdefault(variant, []).append(buckets)
    for variant, c in counts.items():
        c.neg, c.pos = unpack(blobs[variant])
    return counts


class LiveInterval(TypedDict):
    """ML − baseline on a window's matured rows: each difference with its paired hour-block
    bootstrap interval, and the verdict an operator may act on."""

    rows: int
    blocks: int
    pr_auc: dict[str, float | None]  # diff, low, high
    brier: dict[str, float | None]
    verdict: str


def live_blocks(*, since: datetime, until: datetime | None = None, now: datetime | None = None,
                block_seconds: int = 3600) -> tuple[int, dict[str, BlockCounts]]:
    """Each variant's rollup counts per time block of the window (a rollup row coarser than a
    block, an hour or a day, is a block of its own): what a paired block resample needs."""
    rows_by_block: dict[tuple[int, str], list] = {}
    parts = live_window_parts(since=since, until=until, now=now or timezone.now())
    if block_seconds < 3600:  # blocks finer than an hour: the minute rows of the whole window
        parts = [(LiveMinute, "minute", _floor(since, 60), until and _floor(until, 60))]
    for model, field, lo, hi in parts:
        rows = model.objects.filter(**{f"{field}__gte": lo})
        if hi is not None:
            rows = rows.filter(**{f"{field}__lt": hi})
        for at, variant, brier_sum, buckets in rows.order_by().values_list(
                field, "variant", "brier_sum", "buckets"):
            block = int(at.timestamp()) // block_seconds
            rows_by_block.setdefault((block, variant), []).append((brier_sum, buckets))
    blocks = sorted({block for block, _ in rows_by_block})
    out: dict[str, BlockCounts] = {}
    for variant in (ML, BASELINE):
        neg = np.zeros((len(blocks), SCORE_BUCKETS), np.int64)
        pos = np.zeros((len(blocks), SCORE_BUCKETS), np.int64)
        brier = np.zeros(len(blocks))
        for i, block in enumerate(blocks):
            parts = rows_by_block.get((block, variant), [])
            neg[i], pos[i] = unpack([b for _, b in parts])
            brier[i] = sum(s for s, _ in parts)
        out[variant] = BlockCounts(neg=neg, pos=pos, brier_sum=brier)
    return len(blocks), out


def live_paired_interval(*, since: datetime, until: datetime | None = None,
                         now: datetime | None = None) -> LiveInterval:
    """The live PR-AUC and Brier differences ML − baseline with their 95 % paired hour-block
    bootstrap intervals (BACKTEST_BOOTSTRAP_RESAMPLES, BACKTEST_SEED), from the rollups.

    The verdict is "Not enough evidence" when the rows are fewer than LIVE_MIN_ROWS or both
    intervals hold zero; otherwise it names the metric(s) the interval separates. Blocks are an
    hour (BACKTEST_BLOCK_SECONDS), shorter in a window of fewer than LIVE_MIN_BLOCKS hours (in
    the auto-rollback's hour, 5 minutes), never shorter than a minute row."""
    now = now or timezone.now()
    span = ((until or now) - since).total_seconds()
    block = int(max(60, min(settings.BACKTEST_BLOCK_SECONDS,
                            span // LIVE_MIN_BLOCKS // 60 * 60)))
    n_blocks, counts = live_blocks(since=since, until=until, now=now, block_seconds=block)
    ml, base = counts[ML], counts[BASELINE]
    rows = int(min(ml.rows.sum(), base.rows.sum())) if n_blocks else 0
    bounds = paired_bootstrap(ml, base, resamples=settings.BACKTEST_BOOTSTRAP_RESAMPLES,
                              seed=settings.BACKTEST_SEED) if rows else \
        {"pr_auc": (None, None), "brier": (None, None)}
    point = {}
    for name, variant_counts in (("ml", ml), ("baseline", base)):
        total = Counts(neg=variant_counts.neg.sum(axis=0), pos=variant_counts.pos.sum(axis=0),
                       brier_sum=float(variant_counts.brier_sum.sum()))
        point[name] = total.figures(LIVE_MIN_ROWS)
    intervals = {}
    for metric in ("pr_auc", "brier"):
        a, b = point["ml"][metric], point["baseline"][metric]
        intervals[metric] = Interval(None if a is None or b is None else a - b, *bounds[metric])
    return LiveInterval(rows=rows, blocks=n_blocks,
                        pr_auc=intervals["pr_auc"].as_dict(), brier=intervals["brier"].as_dict(),
                        verdict=live_verdict(intervals, rows=rows, min_rows=LIVE_MIN_ROWS,
                                             blocks=n_blocks))


def prediction_live_performance(*, since: datetime | None = None,
                                until: datetime | None = None,
                                model_version: ModelVersion | None = None,
                                product_id: str | None = None,
                                now: datetime | None = None) -> dict[str, LiveFigures]:
    """Live n, prevalence, precision, recall, PR-AUC and Brier per variant, from the rollups
    of matured rows (`since` ≤ event time < `until`, in whole minutes: live_window_parts).

    Every row scores both variants: the served one and the shadow one, so champion and
    challenger are measured on the same rows, with the definitions of the offline metric
    functions (`core.evaluation.scores`; PR-AUC on scores rounded to 0.001,
    `core.score_buckets`). `enough` is False below LIVE_MIN_ROWS rows.
    """
    counts = live_counts(since=since, until=until, model_version=model_version,
                         product_id=product_id, now=now)
    return {variant: c.figures(LIVE_MIN_ROWS) for variant, c in counts.items()}


@dataclass(frozen=True)
class ServedAt:
    """What the configuration said should serve at a moment, and since when."""

    at: datetime
    variant: str | None  # None with no model version: nothing could serve
    model_version: ModelVersion | None
    config_version: int
    since: datetime | None  # when it became live; None: before the first recorded change
    actor_name: str
    source: str
    reason: str


def service_config_at(*, at: datetime) -> ServedAt:
    """Which variant and model version served at `at`, from the audit trail's snapshots.

    A change is live from its own instant on (`at` equal to an entry's time answers with that
    entry). Before the first recorded change the answer is the first entry's "old" values; with
    no change ever recorded, the configuration as it is now (it has never changed). Without a
    model version nothing could serve (the baseline's map comes with a version too), so the
    variant is None then, whatever the configuration row said.
    """
    served = _served_at(at)
    return replace(served, variant=None) if served.model_version is None else served


def _served_at(at: datetime) -> ServedAt:
    entry = (ConfigAuditEntry.objects.filter(at__lte=at).exclude(active_variant="")
             .select_related("active_model_version")
             .defer(*ModelVersion.blobs("active_model_version__"))
             .order_by("-at", "-id").first())
    if entry is not None:
        return ServedAt(at=at, variant=entry.active_variant,
                        model_version=entry.active_model_version,
                        config_version=entry.config_version, since=entry.at,
                        actor_name=entry.actor_name, source=entry.source, reason=entry.reason)
    first = ConfigAuditEntry.objects.order_by("at", "id").select_related(
        "active_model_version").defer(*ModelVersion.blobs("active_model_version__")).first()
    if first is None:
        config = ServiceConfig.load()
        return ServedAt(at=at, variant=config.active_variant,
                        model_version=config.active_model_version,
                        config_version=config.version, since=None, actor_name="",
                        source="", reason="no change recorded")
    changes = first.changes or {}
    variant = changes.get("active_variant", [first.active_variant])[0]
    version = first.active_model_version
    if "active_model_version" in changes:
        version = (ModelVersion.objects.filter(name=changes["active_model_version"][0])
                   .defer(*ModelVersion.blobs()).first())
    return ServedAt(at=at, variant=variant, model_version=version,
                    config_version=first.config_version - 1, since=None, actor_name="",
                    source="", reason="before the first recorded change")


def service_config_timeline(*, limit: int = 50) -> list[ConfigAuditEntry]:
    """The latest configuration versions that decided what served, newest first."""
    return list(ConfigAuditEntry.objects.exclude(active_variant="")
                .select_related("active_model_version")
                .defer(*ModelVersion.blobs("active_model_version__"))
                .order_by("-at", "-id")[:limit])


class ConfigChange(TypedDict):
    at: str
    config_version: int
    actor: str
    source: str
    summary: str
    reason: str


def config_manual_rollback_latest(*, scan: int = 200) -> ConfigAuditEntry | None:
    """The newest rollback made by hand: a version rollback (source "rollback") or a flip of
    the variant to the baseline in the admin or the API. Automatic rollbacks are
    monitoring.rollback.auto_rollback_latest's; the newest `scan` changes are looked at (a
    rollback older than that is history the timeline shows)."""
    entries = (ConfigAuditEntry.objects.exclude(source="auto-rollback")
               .order_by("-at", "-id")[:scan])
    for entry in entries:
        variant_change = (entry.changes or {}).get("active_variant") or [None, None]
        if entry.source == "rollback" or list(variant_change)[-1:] == [BASELINE]:
            return entry
    return None


def config_changes_recent(*, limit: int = 5) -> list[ConfigChange]:
    """The newest configuration changes, as the overview lists them."""
    return [ConfigChange(at=e.at.isoformat(), config_version=e.config_version,
                         actor=e.actor_name, source=e.source, summary=e.summary(),
                         reason=e.reason)
            for e in ConfigAuditEntry.objects.order_by("-at", "-id")[:limit]]


class PartitionLag(TypedDict):
    topic: str
    partition: int
    lag: int


class ConsumerState(TypedDict):
    lag: list[PartitionLag]
    last_run_age_seconds: dict[str, float | None]


def stream_consumer_state(*, now: datetime) -> ConsumerState:
    """Each partition's lag at its last batch, and each lease slot's last-run age."""
    names = [StreamLease.name_for(s) for s in range(settings.STREAM_CONSUMER_SLOTS)]
    leases = StreamLease.objects.filter(name__in=names)
    return ConsumerState(
        lag=[PartitionLag(topic=o.topic, partition=o.partition, lag=o.lag)
             for o in StreamOffset.objects.exclude(lag=None).order_by("topic", "partition")],
        last_run_age_seconds={
            lease.name: (now - lease.last_run_at).total_seconds() if lease.last_run_at else None
            for lease in leases})


class ScoreSeries(TypedDict):
    product: str | None
    points: list[list[float]]  # [epoch seconds, served score]
    spikes: list[float]  # epoch seconds of rows whose realized label was a spike


def prediction_score_series(*, now: datetime, rows: int = 2000) -> ScoreSeries:
    """The newest `rows` rows of the last hour of the most recently scored product: a bounded
    read of the (product, time) index, however long the history."""
    product = (Prediction.objects.order_by("-event_ts", "-id")
               .values_list("product_id", flat=True).first())
    if product is None:
        return ScoreSeries(product=None, points=[], spikes=[])
    newest = list(Prediction.objects.filter(product_id=product,
                                            event_ts__gte=now - timedelta(hours=1))
                  .order_by("-event_ts")
                  .values_list("event_ts", "score", "outcome__realized_label")
                  [:rows])[::-1]
    return ScoreSeries(product=product,
                       points=[[ts.timestamp(), score] for ts, score, _ in newest],
                       spikes=[ts.timestamp() for ts, _, spike in newest if spike])


def prediction_live_series(*, now: datetime, span: timedelta = timedelta(days=1),
                           slices: int = 12) -> dict[str, list[list[float]]]:
    """Live PR-AUC per variant in `slices` equal slices of whole hours ending with the current
    one: {variant: [[slice end, PR-AUC], …]} (slices without both classes left out). One read
    of the span's hour rollups, summed per slice here."""
    step = span / slices
    end = _ceil(now, 3600)
    start = end - span
    per_slice: dict[tuple[int, str], list] = {}
    for hour, variant, flagged, flagged_positives, brier_sum, buckets in (
            LiveHour.objects.filter(hour__gte=start, hour__lt=end).order_by()
            .values_list("hour", "variant", "flagged", "flagged_positives", "brier_sum",
                         "buckets")):
        i = min(int((hour - start) / step), slices - 1)
        acc = per_slice.setdefault((i, variant), [Counts(), []])
        acc[0].flagged += flagged
        acc[0].flagged_positives += flagged_positives
        acc[0].brier_sum += brier_sum
        acc[1].append(buckets)
    out: dict[str, list[list[float]]] = {ML: [], BASELINE: []}
    for (i, variant), (counts, blobs) in sorted(per_slice.items()):
        counts.neg, counts.pos = unpack(blobs)
        pr_auc = counts.figures(LIVE_MIN_ROWS)["pr_auc"]
        if pr_auc is not None:
            out.setdefault(variant, []).append([(start + (i + 1) * step).timestamp(), pr_auc])
    return out
