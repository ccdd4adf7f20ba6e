"""Promotion and rollback of model versions: the one path that decides which version serves.

A user needs the promote permission (checked here, not only in the admin, so a crafted request
or another entry point is refused too). ML serves only when the guardrail
(`services.config.ml_guardrail`: the version's backtest on live history when it is enough
evidence, then `core.guardrail.ml_beats_baseline` on held-out data) allows it; a
superuser may force ML with a written reason, which the audit entry keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from predictions.core.scorers import BASELINE, ML
from predictions.models import ConfigAuditEntry, ModelVersion, ServiceConfig
from predictions.services.config import (
    PromotionForbidden,
    PromotionRefused,
    _config_locked,
    _config_write,
    _validate,
    actor_may_promote,
    ml_guardrail,
    ml_serving_check,
    model_version_problem,
)


@dataclass(frozen=True)
class Promotion:
    """What a promotion did: the configuration now, and which variant serves and why."""

    config: ServiceConfig
    serves_ml: bool
    reason: str
    forced: bool = False


@transaction.atomic
def model_version_activate(*, version: ModelVersion, actor: Any = None, actor_name: str = "",
                           reason: str, force_ml: bool = False, force_reason: str = "",
                           source: str = "promote") -> Promotion:
    """Promote a version, or refuse (PromotionRefused) one that could not serve.

    Its ML artifact is checked even while the baseline serves, so a later flip to ML cannot
    meet a broken artifact. The variant follows the guardrail: ML serves only when it beat the
    baseline on held-out data; otherwise the version is promoted with the baseline serving
    (ML refused), unless `force_ml` with a superuser and a written `force_reason`.
    """
    if not actor_may_promote(actor):
        raise PromotionForbidden(f"{actor} may not promote model versions: it needs the "
                                 "permission “Can promote a model version”")
    serves_ml, why = ml_guardrail(version)
    forced = False
    if force_ml and not serves_ml:
        why = ml_serving_check(version=version, force_reason=force_reason, actor=actor)
        serves_ml = forced = True
    elif not serves_ml:
        why = f"{why}; ML refused (a superuser may force it with a written reason)"
    changes = {"active_model_version": version, "active_variant": ML if serves_ml else BASELINE}
    _validate(reason, changes)
    problem = model_version_problem(version)
    if problem:
        raise PromotionRefused(f"{version} cannot serve: {problem}")
    text = f"{reason}; {why}" if forced else f"{reason}; guardrail: {why}"
    config = _config_write(_config_locked(), changes, actor=actor, actor_name=actor_name,
                           reason=text, source=source)
    return Promotion(config=config, serves_ml=serves_ml, reason=why, forced=forced)


def model_version_previous() -> ModelVersion | None:
    """The version that was promoted before the current one (from the audit trail), or None."""
    current = ServiceConfig.load().active_model_version_id
    entries = (ConfigAuditEntry.objects.exclude(active_model_version=None)
               .exclude(active_model_version_id=current).order_by("-at", "-id"))
    entry = entries.select_related("active_model_version").first()
    return entry.active_model_version if entry else None


@transaction.atomic
def model_version_rollback(*, actor: Any = None, actor_name: str = "",
                           reason: str) -> Promotion:
    """Promote again the version that served before the current one (the guardrail applies
    to it as to any promotion), or refuse when there is none."""
    previous = model_version_previous()
    if previous is None:
        raise PromotionRefused("No earlier model version was ever promoted: nothing to roll "
                               "back to. Flip to the baseline variant instead.")
    return model_version_activate(version=previous, actor=actor, actor_name=actor_name,
                                  reason=f"rolled back to the previous version: {reason}",
                                  source="rollback")
