"""Writes to the shared configuration. Every config change, from the admin, a command or the
system (auto-rollback), goes through `service_config_update`, which audits it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from predictions.config import forget_config
from predictions.core.guardrail import backtest_refuses_ml, ml_beats_baseline
from predictions.core.scorers import ML, VARIANTS
from predictions.models import Backtest, ConfigAuditEntry, ModelVersion, ServiceConfig

EDITABLE_FIELDS = frozenset(
    {
        "active_variant",
        "active_model_version",
        "drift_method",
        "drift_method_threshold",
        "drift_share_threshold",
        "drift_window_rows",
        "slo_availability_target",
        "slo_latency_threshold_ms",
        "slo_latency_target",
        "slo_freshness_seconds",
        "slo_stream_latency_seconds",
        "slo_stream_latency_target",
        "slo_freshness_target",
        "slo_drift_freshness_seconds",
        "slo_drift_freshness_target",
        "auto_rollback_enabled",
        "auto_rollback_drift_reports",
        "auto_rollback_pr_auc_margin",
        "auto_rollback_min_rows",
        "auto_rollback_window_minutes",
        "auto_rollback_on_fast_burn",
    }
)

# SLO targets are shares of good events; a target of 1 leaves no error budget to burn.
SLO_TARGET_FIELDS = ("slo_stream_latency_target", "slo_freshness_target",
                     "slo_drift_freshness_target")

# Where a change came from, kept on its audit entry (the timeline shows it).
SOURCES = ("admin", "api", "train", "promote", "rollback", "auto-rollback", "system")


# Changing either decides what serves, so the pair is checked before it is written.
SERVING_FIELDS = frozenset({"active_variant", "active_model_version"})


class ConfigError(ValueError):
    """A refused configuration change; the text says why."""


class PromotionRefused(ConfigError):
    """A model version that could not serve was to be promoted or served; the text says why."""


class PromotionForbidden(PromotionRefused):
    """The user lacks the `predictions.promote_modelversion` permission."""


PROMOTE_PERMISSION = "predictions.promote_modelversion"


def actor_may_promote(actor: Any) -> bool:
    """System processes (no user: train, auto-rollback) may; a user needs the permission."""
    if not getattr(actor, "is_authenticated", False):
        return True
    return bool(actor.has_perm(PROMOTE_PERMISSION))


def ml_guardrail(version: ModelVersion) -> tuple[bool, str]:
    """May the version's ML variant serve? Its latest backtest on live history refuses it
    when, with enough rows and spikes, the candidate is worse than the champion beyond the
    interval; otherwise the training-time walk-forward guardrail decides."""
    backtest = (Backtest.objects.filter(model_version=version, status=Backtest.OK)
                .order_by("-created_at", "-id").first())
    if backtest is None:
        return ml_beats_baseline(version.metrics or {})
    overall = backtest.report.get("overall") or {}
    refused, because = backtest_refuses_ml(
        rows=backtest.rows, spikes=backtest.spikes, figures=overall.get("figures") or {},
        intervals=overall.get("intervals") or {}, min_rows=settings.BACKTEST_MIN_ROWS,
        min_spikes=settings.BACKTEST_MIN_SPIKES)
    if refused:
        return False, because
    serves_ml, why = ml_beats_baseline(version.metrics or {})
    return serves_ml, f"{why}; {because}"


def ml_serving_check(*, version: ModelVersion | None, force_reason: str = "",
                     actor: Any = None) -> str:
    """Refuse (PromotionRefused) to serve ML with a version the guardrail refuses
    (`ml_guardrail`: its backtest, then its held-out metrics; the one rule), unless a superuser
    forces it with a written reason. Returns the text the audit entry keeps."""
    if version is None:
        return ""
    beats, why = ml_guardrail(version)
    if beats:
        return f"guardrail: {why}"
    if not force_reason.strip():
        raise PromotionRefused(f"Refused to serve ML with {version}: {why}. A superuser may "
                               "force it with a written reason.")
    if not getattr(actor, "is_superuser", False):
        raise PromotionRefused(f"Only a superuser may force ML with {version}: {why}")
    return f"ML FORCED by {actor.username}: {force_reason.strip()}; guardrail: {why}"


def _display(value: Any) -> Any:
    if isinstance(value, ModelVersion):
        return value.name
    return value


def _validate(reason: str, changes: dict[str, Any]) -> None:
    if not reason or not reason.strip():
        raise ConfigError("a reason is required for every configuration change")
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ConfigError(f"unknown configuration fields: {sorted(unknown)}")
    if "active_variant" in changes and changes["active_variant"] not in VARIANTS:
        raise ConfigError(f"active_variant must be one of {list(VARIANTS)}")
    for field in ("drift_share_threshold", "slo_availability_target", "slo_latency_target"):
        if field in changes and not 0.0 < float(changes[field]) <= 1.0:
            raise ConfigError(f"{field} must be in (0, 1]")
    for field in SLO_TARGET_FIELDS:
        if field in changes and not 0.0 < float(changes[field]) < 1.0:
            raise ConfigError(f"{field} must be in (0, 1)")
    if "slo_stream_latency_seconds" in changes and float(changes["slo_stream_latency_seconds"]) <= 0:
        raise ConfigError("slo_stream_latency_seconds must be positive")
    if "auto_rollback_pr_auc_margin" in changes and \
            not 0.0 <= float(changes["auto_rollback_pr_auc_margin"]) <= 1.0:
        raise ConfigError("auto_rollback_pr_auc_margin must be in [0, 1]")
    if "auto_rollback_window_minutes" in changes and \
            int(changes["auto_rollback_window_minutes"]) < 1:
        raise ConfigError("auto_rollback_window_minutes must be at least 1")


def model_version_problem(version: ModelVersion, *, check_artifact: bool = True) -> str | None:
    """Why this version cannot serve (features unknown to the engine; with `check_artifact`,
    an ML artifact that is refused), or None."""
    from django.conf import settings as dj_settings

    from predictions.core.features import feature_names
    from predictions.core.scorers import ArtifactError, load_model

    expected = feature_names(dj_settings.FEATURE_WINDOWS_SECONDS)
    if list(version.feature_names) != expected:
        return "its features differ from the feature engine's; retrain it"
    if not check_artifact:
        return None
    try:
        load_model(bytes(version.artifact), version.sha256)
    except ArtifactError as exc:
        return f"its artifact is refused: {exc}"
    return None


def service_config_check(*, variant: str | None, version: ModelVersion | None) -> None:
    """Refuse (PromotionRefused) a variant and model version that could not serve together:
    features the engine does not compute, or, for ML, an artifact that is refused."""
    if version is None:
        return
    problem = model_version_problem(version, check_artifact=variant == ML)
    if problem:
        raise PromotionRefused(f"Cannot serve {variant} with {version}: {problem}. "
                               "Keep the baseline, or promote another version.")


@transaction.atomic
def service_config_update(*, actor: Any = None, actor_name: str = "", reason: str,
                          source: str = "", force_reason: str = "",
                          **changes: Any) -> ServiceConfig:
    """Apply changes to the configuration row, audit them, and bump its version.

    `actor` is a user (admin, API); system processes pass `actor_name` instead; `source` says
    where the change came from (admin, train, auto-rollback, …). A change that changes nothing
    writes nothing. A change of variant or model version that could not serve is refused
    (`service_config_check`), and so is one that would start serving ML with a version the
    guardrail rejects, unless a superuser forces it (`force_reason`, audited).
    """
    _validate(reason, changes)
    config = _config_locked()
    if SERVING_FIELDS & changes.keys():
        variant = changes.get("active_variant", config.active_variant)
        version = changes.get("active_model_version", config.active_model_version)
        service_config_check(variant=variant, version=version)
        if version != config.active_model_version and not actor_may_promote(actor):
            raise PromotionForbidden(f"{actor} may not promote model versions: it needs the "
                                     "permission “Can promote a model version”")
        if variant == ML and (config.active_variant != ML
                              or version != config.active_model_version):
            forced = ml_serving_check(version=version, force_reason=force_reason, actor=actor)
            if force_reason.strip():
                reason = f"{reason}; {forced}"
    return _config_write(config, changes, actor=actor, actor_name=actor_name, reason=reason,
                         source=source)


def _config_locked() -> ServiceConfig:
    ServiceConfig.load()
    return ServiceConfig.objects.select_for_update().get(pk=ServiceConfig.SINGLETON_PK)


def _source(actor: Any, actor_name: str, source: str) -> str:
    if source:
        return source
    return "admin" if getattr(actor, "is_authenticated", False) else (actor_name or "system")


def _config_write(config: ServiceConfig, changes: dict[str, Any], *, actor: Any,
                  actor_name: str, reason: str, source: str = "") -> ServiceConfig:
    """Write the fields that change and their audit entry; processes reload after commit."""
    diff: dict[str, list[Any]] = {}
    for field, new in changes.items():
        old = getattr(config, field)
        if old != new:
            diff[field] = [_display(old), _display(new)]
            setattr(config, field, new)
    if not diff:
        return config
    config.save()
    ServiceConfig.objects.filter(pk=config.pk).update(version=F("version") + 1)
    config.refresh_from_db()
    ConfigAuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_name=getattr(actor, "username", "") or actor_name or "system",
        changes=diff,
        reason=reason.strip(),
        config_version=config.version,
        source=_source(actor, actor_name, source)[:32],
        active_variant=config.active_variant,
        active_model_version=config.active_model_version,
    )
    transaction.on_commit(forget_config)
    return config


