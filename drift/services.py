"""Build a drift report: the active model's reference sample against recent prediction rows."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import FloatField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from drift.evidently_report import DriftResult, run_drift
from drift.methods import is_drifted
from drift.models import DriftReport
from monitoring import metrics
from predictions.config import current_config
from predictions.core.drift_calibration import calibrated_thresholds
from predictions.models import ModelVersion, Prediction

log = logging.getLogger(__name__)


def drift_report_create() -> DriftReport:
    """Steps:
    1. read the drift policy and the promoted model version from the shared configuration;
    2. take the version's reference sample (train rows) and the newest prediction rows;
    3. skip, with a stored reason, when there is too little current data;
    4. run Evidently and store share drifted, per-feature results and the HTML.
    """
    import pandas as pd

    config = current_config()
    report = DriftReport(method=config.drift_method, share_threshold=config.drift_share_threshold)
    version = ModelVersion.objects.filter(pk=config.model_version_id).first()
    if version is None:
        return _finish(report, DriftReport.SKIPPED, "no model version is promoted")
    report.model_version = version
    names = list(version.feature_names)
    rows = current_rows(version, names, limit=config.drift_window_rows)
    report.reference_rows, report.current_rows = len(version.reference_sample), len(rows)
    if len(rows) < settings.DRIFT_MIN_ROWS:
        return _finish(report, DriftReport.SKIPPED,
                       f"{len(rows)} prediction rows of the last "
                       f"{settings.DRIFT_WINDOW_MAX_HOURS:g} h; need at least "
                       f"{settings.DRIFT_MIN_ROWS}")
    report.current_start = min(r[0] for r in rows)
    report.current_end = max(r[0] for r in rows)
    reference = pd.DataFrame(version.reference_sample, columns=names)
    current = pd.DataFrame([r[1:] for r in rows], columns=names, dtype=float)
    started = time.monotonic()
    try:
        result = run_drift(reference, current, method=config.drift_method,
                           threshold=config.drift_method_threshold,
                           share=config.drift_share_threshold)
    except Exception as exc:  # Evidently failures are stored, not raised into beat
        log.exception("drift report failed")
        return _finish(report, DriftReport.FAILED, f"{type(exc).__name__}: {exc}")
    report.duration_s = time.monotonic() - started
    span_s = (report.current_end - report.current_start).total_seconds()
    result = calibrate(result, calibrated_thresholds(
        version.metrics.get("drift_calibration"), method=config.drift_method, span_s=span_s))
    report.n_features = len(result.features)
    report.n_drifted = result.n_drifted
    report.share_drifted = result.share_drifted
    report.dataset_drift = result.share_drifted >= config.drift_share_threshold
    report.features = result.features
    report.html = result.html
    return _finish(report, DriftReport.OK, "")


def calibrate(result: DriftResult, thresholds: dict[str, float]) -> DriftResult:
    """Judge each feature against the larger of the method's threshold and what windows of
    the same span of the version's training history showed (`core.drift_calibration`); the
    share drifted follows. Without a calibration (another method, an older version) the
    method's threshold alone decides, as Evidently did."""
    if not thresholds:
        return result
    features = []
    for f in result.features:
        threshold = max(f["threshold"], thresholds.get(f["feature"], f["threshold"]))
        features.append({**f, "method_threshold": f["threshold"], "threshold": threshold,
                         "drifted": is_drifted(f["method"], f["score"], threshold)})
    n_drifted = sum(f["drifted"] for f in features)
    return DriftResult(share_drifted=n_drifted / len(features) if features else 0.0,
                       n_drifted=n_drifted, features=features, html=result.html)


def current_rows(version: ModelVersion, names: list[str], *, limit: int) -> list[tuple]:
    """(event time, feature values…) of the version's newest rows: at most `limit` rows and
    none older than DRIFT_WINDOW_MAX_HOURS. The database extracts the model's features from
    each row's JSON, so only those values travel and nothing is decoded here."""
    since = timezone.now() - timedelta(hours=settings.DRIFT_WINDOW_MAX_HOURS)
    columns = {f"f{i}": Cast(KT(f"features__{name}"), FloatField())
               for i, name in enumerate(names)}
    return list(Prediction.objects.filter(model_version=version, event_ts__gte=since)
                .order_by("-id").annotate(**columns)
                .values_list("event_ts", *columns)[:limit])


def _finish(report: DriftReport, status: str, message: str) -> DriftReport:
    report.status, report.message = status, message
    report.save()
    metrics.DRIFT_REPORTS.labels(status=status).inc()
    return report
