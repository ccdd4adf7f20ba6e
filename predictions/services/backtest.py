"""Backtest a model version on the stream we served: re-score the stored feature rows of the
matured predictions in a window with the candidate, beside the champion (the score as served)
and the baseline (the rule's score stored on the row), on the same rows.

Steps of `backtest_run`:
1. load the candidate as serving does (sha256 check, skops with trusted types, never pickle);
2. refuse when the window's rows of the current feature set lack a feature it needs;
3. stream the rows through a server-side cursor (PostgreSQL; page by page elsewhere), the
   features extracted by the database, scoring each page: memory holds one page of features
   and, per row, only its scores, thresholds, label, hour and product (about 50 bytes);
4. compare overall, per product and per day (`core.backtest.compare`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from predictions.core.backtest import Rows, compare, curves
from predictions.core.features import FEATURE_SET_VERSION
from predictions.core.scorers import BASELINE, ArtifactError, MLScorer, load_model, ml_scorer
from predictions.models import Backtest, ModelVersion, Prediction, PredictionOutcome

CANDIDATE, CHAMPION = "candidate", "champion"
PREDICTIONS, OUTCOMES = Prediction._meta.db_table, PredictionOutcome._meta.db_table


class BacktestRefused(Exception):
    """A backtest that cannot be run honestly (a missing feature, no rows, a bad artifact)."""


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    product: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The matured rows of the window and of the current feature set."""
        sql = (f"FROM {PREDICTIONS} p JOIN {OUTCOMES} o ON o.prediction_id = p.id "
               f"WHERE p.event_ts >= %s AND p.event_ts < %s AND p.feature_set = %s "
               f"AND o.realized_label IS NOT NULL")
        params: list[Any] = [self.since, self.until, FEATURE_SET_VERSION]
        if self.product:
            sql += " AND p.product_id = %s"
            params.append(self.product)
        return sql, params


def candidate_scorer(version: ModelVersion) -> MLScorer:
    """The candidate's ML scorer, loaded the way serving loads it."""
    try:
        model = load_model(bytes(version.artifact), version.sha256)
    except ArtifactError as exc:
        raise BacktestRefused(f"model version {version}: {exc}") from None
    return ml_scorer(model, version.threshold, np.asarray(version.reference_sample[:500]))


def backtest_features_check(*, version: ModelVersion, window: Window) -> int:
    """The window's matured rows of the current feature set (refused when none, or when they
    lack a feature the candidate needs, named)."""
    where, params = window.where()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) {where}", params)
        rows = int(cursor.fetchone()[0])
        if rows == 0:
            cursor.execute(f"SELECT count(*) FROM {PREDICTIONS} p WHERE p.event_ts >= %s "
                           f"AND p.event_ts < %s AND p.feature_set <> %s", params[:3])
            other = int(cursor.fetchone()[0])
            raise BacktestRefused(
                f"no matured rows of feature set {FEATURE_SET_VERSION} between "
                f"{window.since:%Y-%m-%d %H:%M} and {window.until:%Y-%m-%d %H:%M} UTC"
                + (f" ({other} rows of an older feature set are never mixed in)" if other else ""))
        cursor.execute(f"SELECT p.features {where} LIMIT 1", params)
        stored = cursor.fetchone()[0]
    keys = set(stored if isinstance(stored, dict) else _json(stored))
    missing = [name for name in version.feature_names if name not in keys]
    if missing:
        raise BacktestRefused(
            f"{version} needs feature{'s' if len(missing) > 1 else ''} {', '.join(missing)}, "
            f"which the stored rows of feature set {FEATURE_SET_VERSION} lack")
    return rows


def _json(text: str) -> dict:
    import orjson

    return orjson.loads(text)


def _select(names: list[str]) -> tuple[str, list[str]]:
    """Columns: hour-able epoch seconds, product, both variants' scores and thresholds, the
    label, then each named feature as a float (extracted by the database)."""
    if connection.vendor == "postgresql":
        epoch = "extract(epoch FROM p.event_ts)::float8"
        feature, keys = "(p.features ->> %s)::float8", list(names)
    else:
        epoch = "(julianday(p.event_ts) - 2440587.5) * 86400.0"
        feature = "CAST(json_extract(p.features, %s) AS REAL)"
        keys = ['$."' + name.replace('"', '\\"') + '"' for name in names]
    columns = [epoch, "p.product_id", "p.variant", "p.score", "p.threshold", "p.shadow_variant",
               "p.shadow_score", "p.shadow_threshold", "o.realized_label"]
    return ", ".join(columns + [feature] * len(names)), keys


class Columns:
    """Per-row columns of the backtest, preallocated for the counted rows and filled page by
    page (no list of pages, no second copy when they are joined)."""

    def __init__(self, rows: int) -> None:
        self.n = 0
        self.hour = np.empty(rows, np.int64)
        self.y = np.empty(rows, bool)
        self.product = np.empty(rows, np.int16)
        self.products: dict[str, int] = {}
        self.p = {name: np.empty(rows) for name in (CANDIDATE, CHAMPION, BASELINE)}
        self.t = {name: np.empty(rows) for name in (CHAMPION, BASELINE)}

    def add(self, page: list[tuple], scorer: MLScorer, width: int) -> None:
        cols = list(zip(*page))
        at = slice(self.n, self.n + len(page))
        if at.stop > len(self.y):
            raise BacktestRefused("rows arrived while the backtest read them; run it again "
                                  "with an --until in the past")
        self.hour[at] = (np.asarray(cols[0], float) // 1).astype(np.int64)
        self.product[at] = [self.products.setdefault(p, len(self.products)) for p in cols[1]]
        served_is_base = np.asarray(cols[2], object) == BASELINE
        score, threshold = np.asarray(cols[3], float), np.asarray(cols[4], float)
        shadow, shadow_t = np.asarray(cols[6], float), np.asarray(cols[7], float)
        self.y[at] = np.asarray(cols[8], bool)
        X = np.asarray(cols[9:9 + width], dtype=float).T
        self.p[CANDIDATE][at] = scorer.score(np.ascontiguousarray(X))
        self.p[CHAMPION][at], self.t[CHAMPION][at] = score, threshold
        self.p[BASELINE][at] = np.where(served_is_base, score, shadow)
        self.t[BASELINE][at] = np.where(served_is_base, threshold, shadow_t)
        self.n = at.stop

    def rows(self, candidate_threshold: float, block_seconds: int) -> Rows:
        n = self.n
        return Rows(y=self.y[:n], block=self.hour[:n] // block_seconds,
                    variants={CANDIDATE: (self.p[CANDIDATE][:n], candidate_threshold),
                              CHAMPION: (self.p[CHAMPION][:n], self.t[CHAMPION][:n]),
                              BASELINE: (self.p[BASELINE][:n], self.t[BASELINE][:n])})


def _stream(version: ModelVersion, window: Window, columns: Columns, scorer: MLScorer,
            progress: Callable[[int], None]) -> None:
    """Read and score the window's rows page by page (one server-side cursor on PostgreSQL,
    inside a transaction so nothing is materialized on the server)."""
    select, keys = _select(list(version.feature_names))
    where, params = window.where()
    page_rows = settings.BACKTEST_PAGE_ROWS
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = 0")
        cursor = connection.chunked_cursor()
        try:
            cursor.execute(f"SELECT {select} {where}", keys + params)
            while page := cursor.fetchmany(page_rows):
                columns.add(page, scorer, len(keys))
                progress(len(page))
        finally:
            cursor.close()


def _section(rows: Rows) -> dict[str, Any]:
    return compare(rows, candidate=CANDIDATE, champion=CHAMPION,
                   resamples=settings.BACKTEST_BOOTSTRAP_RESAMPLES, seed=settings.BACKTEST_SEED)


def backtest_run(*, version: ModelVersion, window: Window,
                 progress: Callable[[int], None] | None = None,
                 on_total: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The backtest of `version` on the window's matured rows (see the module's steps): a
    JSON-ready report, or BacktestRefused."""
    started = time.monotonic()
    scorer = candidate_scorer(version)
    total = backtest_features_check(version=version, window=window)
    if on_total:
        on_total(total)
    columns = Columns(total)
    _stream(version, window, columns, scorer, progress or (lambda n: None))
    rows = columns.rows(version.threshold, 1)
    block = settings.BACKTEST_BLOCK_SECONDS
    rows = Rows(y=rows.y, block=rows.block // block, variants=rows.variants)
    report: dict[str, Any] = {
        "model_version": version.name, "feature_set": FEATURE_SET_VERSION,
        "since": window.since.isoformat(), "until": window.until.isoformat(),
        "product": window.product, "rows": int(columns.n), "spikes": int(rows.y.sum()),
        "block_seconds": block, "resamples": settings.BACKTEST_BOOTSTRAP_RESAMPLES,
        "seed": settings.BACKTEST_SEED, "overall": _section(rows), "products": {}, "days": {},
        "curves": curves(rows, (CANDIDATE, CHAMPION)),
    }
    for name, code in sorted(columns.products.items()):
        report["products"][name] = _section(rows.subset(columns.product[:columns.n] == code))
    days = columns.hour[:columns.n] // 86400
    for day in np.unique(days).tolist():
        label = datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y-%m-%d")
        report["days"][label] = _section(rows.subset(days == day))
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def backtest_create(*, version: ModelVersion, window: Window, actor: Any = None,
                    actor_name: str = "", progress: Callable[[int], None] | None = None,
                    on_total: Callable[[int], None] | None = None) -> Backtest:
    """Run the backtest and store it as a `Backtest` row: the report, or why it was refused
    (stored too, so whoever asked from the admin sees the reason)."""
    fields: dict[str, Any] = {
        "model_version": version, "since": window.since, "until": window.until,
        "product_id": window.product or "", "actor": actor if getattr(actor, "pk", None) else None,
        "actor_name": actor_name or str(actor or "system")}
    started = time.monotonic()
    try:
        report = backtest_run(version=version, window=window, progress=progress,
                              on_total=on_total)
    except BacktestRefused as exc:
        return Backtest.objects.create(**fields, status=Backtest.REFUSED, error=str(exc),
                                       seconds=time.monotonic() - started)
    return Backtest.objects.create(**fields, status=Backtest.OK, rows=report["rows"],
                                   spikes=report["spikes"], report=report,
                                   seconds=report["seconds"])
