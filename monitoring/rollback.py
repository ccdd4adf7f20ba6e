"""Auto-rollback: the policy in the shared configuration (off by default) that flips serving to
the baseline when the ML variant looks unsafe, and never back.

It lives in monitoring because its evidence does: drift reports, live performance of both
variants from matured labels, and the predict-availability SLO's burn. It writes only through
`predictions.services.service_config_update`, with source `auto-rollback` and a reason that
quotes the numbers, so the audit trail, the timeline and the metric all see it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from drift.models import DriftReport
from monitoring.burn import TIERS, WINDOW_MINUTES, burn_rate
from monitoring.selectors import slo_minute_sums
from predictions.core.backtest import MIN_BLOCKS
from predictions.core.scorers import BASELINE, ML
from predictions.models import ConfigAuditEntry, ServiceConfig
from predictions.selectors import live_paired_interval
from predictions.services import service_config_update

log = logging.getLogger(__name__)

SOURCE = "auto-rollback"
# The multiwindow fast burn that pages, as the SLO page and the generated rules define it
# (monitoring/burn.py): 14.4 × the budget over 1 h and over 5 min.
FAST_BURN = next(tier for tier in TIERS if tier.key == "fast_burn")


@dataclass(frozen=True)
class Trigger:
    name: str
    fired: bool
    detail: str


def serving_since() -> datetime | None:
    """When what serves now started serving (the latest change of variant or version)."""
    entry = (ConfigAuditEntry.objects.filter(Q(changes__has_key="active_variant")
                                             | Q(changes__has_key="active_model_version"))
             .order_by("-at", "-id").first())
    return entry.at if entry else None


def drift_trigger(config: ServiceConfig) -> Trigger:
    """The last N drift reports since serving began all have a drift share ≥ the threshold."""
    n, threshold = config.auto_rollback_drift_reports, config.drift_share_threshold
    if n == 0:
        return Trigger("drift", False, "drift trigger off")
    reports = DriftReport.objects.filter(status=DriftReport.OK)
    since = serving_since()
    if since is not None:
        reports = reports.filter(created_at__gt=since)
    shares = [r or 0.0 for r in reports.order_by("-created_at", "-id")
              .values_list("share_drifted", flat=True)[:n]]
    fired = len(shares) == n and all(share >= threshold for share in shares)
    listed = ", ".join(f"{s:.2f}" for s in shares) or "none"
    return Trigger("drift", fired, f"drift share of the last {n} reports [{listed}] vs "
                                   f"threshold {threshold:.2f}")


def pr_auc_trigger(config: ServiceConfig, now: datetime) -> Trigger:
    """ML's live PR-AUC is below the shadow baseline's by at least the margin, beyond doubt:
    over ≥ M matured rows, the whole paired block-bootstrap interval of ML − baseline lies at
    or below −margin (`live_paired_interval`). A point estimate past the margin with an
    interval reaching back over it does not fire."""
    m, margin = config.auto_rollback_min_rows, config.auto_rollback_pr_auc_margin
    minutes = config.auto_rollback_window_minutes
    if m == 0:
        return Trigger("live_pr_auc", False, "live PR-AUC trigger off")
    live = live_paired_interval(since=now - timedelta(minutes=minutes), now=now)
    rows, pr = live["rows"], live["pr_auc"]
    if pr["diff"] is None:
        return Trigger("live_pr_auc", False, f"live PR-AUC undefined over {rows} matured rows")
    fired = (rows >= m and live["blocks"] >= MIN_BLOCKS and pr["high"] is not None
             and pr["high"] <= -margin)
    interval = "n/a" if pr["low"] is None else f"[95 % {pr['low']:.4f}, {pr['high']:.4f}]"
    return Trigger("live_pr_auc", fired,
                   f"live PR-AUC ml − baseline {pr['diff']:.4f} {interval} over "
                   f"{live['blocks']} blocks (fires when the interval lies wholly at or below "
                   f"−{margin:.4f}; needs {MIN_BLOCKS} blocks) over {rows} matured rows in {minutes} min "
                   f"(need {m})")


def fast_burn_trigger(config: ServiceConfig, now: datetime) -> Trigger:
    """The predict-availability SLO's fast-burn tier pages: the same minute counts and the
    same arithmetic as the SLO page and the Prometheus rules."""
    if not config.auto_rollback_on_fast_burn:
        return Trigger("fast_burn", False, "fast-burn trigger off")
    windows = (FAST_BURN.long, FAST_BURN.short)
    counts = slo_minute_sums(now=now, spans={w: timedelta(minutes=WINDOW_MINUTES[w])
                                             for w in windows}).get("api_availability", {})
    rates = {w: burn_rate(*counts.get(w, (0, 0)), config.slo_availability_target)
             for w in windows}
    shown = {w: 0.0 if rate is None else rate for w, rate in rates.items()}
    return Trigger("fast_burn", FAST_BURN.fires(rates),
                   f"predict availability burn rate {shown[FAST_BURN.long]:.1f} over "
                   f"{FAST_BURN.long} and {shown[FAST_BURN.short]:.1f} over {FAST_BURN.short} "
                   f"(pages above {FAST_BURN.factor:g})")


def auto_rollback_triggers(*, config: ServiceConfig,
                           now: datetime | None = None) -> list[Trigger]:
    now = now or timezone.now()
    return [drift_trigger(config), pr_auc_trigger(config, now), fast_burn_trigger(config, now)]


def auto_rollback_run(*, now: datetime | None = None) -> str:
    """Check the policy once (beat); roll back to the baseline if a trigger holds. Says what
    it did. Off, or the baseline already serving: nothing (it never switches to ML)."""
    config = ServiceConfig.load()
    if not config.auto_rollback_enabled:
        return "auto-rollback is off"
    if config.active_variant != ML:
        return "the baseline already serves"
    fired = [t for t in auto_rollback_triggers(config=config, now=now) if t.fired]
    if not fired:
        return "no trigger holds"
    reason = "auto-rollback: " + "; ".join(f"{t.name}: {t.detail}" for t in fired)
    service_config_update(actor_name=SOURCE, source=SOURCE, reason=reason,
                          active_variant=BASELINE)
    log.warning("%s", reason)
    return reason


def auto_rollback_latest() -> ConfigAuditEntry | None:
    """The newest auto-rollback (the overview and the SLO page show it)."""
    return ConfigAuditEntry.objects.filter(source=SOURCE).order_by("-at", "-id").first()
