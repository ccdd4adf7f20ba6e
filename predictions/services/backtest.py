"""Backtest a model version on the stream we served: re-score the stored feature rows of the
matured predictions in a window with the candidate, beside the champion (the score as served)
and the baseline (the rule's score stored on the row), on the same rows.

Steps of `backtest_run`:
1. load the candidate as serving does (sha256 check, skops with trusted types, never pickle);
2. refuse when the window's rows of the current feature set lack a feature it needs;
3. stream the rows (binary COPY on PostgreSQL, a cursor elsewhere), the features extracted
   by the database, scoring each page: memory holds one page of features and, per row, only
   its scores, thresholds, label, time and product (about 60 bytes);
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
    """Columns (SQLite, read row by row): epoch seconds, product, served variant, both
    variants' scores and thresholds, the label, then each named feature as a float."""
    epoch = "(julianday(p.event_ts) - 2440587.5) * 86400.0"
    feature = "CAST(json_extract(p.features, %s) AS REAL)"
    keys = ['$."' + name.replace('"', '\\"') + '"' for name in names]
    columns = [epoch, "p.product_id", "p.variant", "p.score", "p.threshold", "p.shadow_variant",
               "p.shadow_score", "p.shadow_threshold", "o.realized_label"]
    return ", ".join(columns + [feature] * len(names)), keys


# PostgreSQL sends the rows by binary COPY with every column fixed-width and never null, so a
# page of rows is one numpy structured array: no text formatting on the server, no parsing or
# Python object per value here. Each field is preceded by its length (COPY's binary format).
_FIXED = [("ts", ">f8"), ("product", ">i4"), ("served_base", "u1"), ("score", ">f8"),
          ("threshold", ">f8"), ("shadow", ">f8"), ("shadow_t", ">f8"), ("label", "u1")]
_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)
_COPY_TRAILER = b"\xff\xff"


def _binary_layout(width: int) -> np.dtype:
    fields: list[tuple[str, str]] = [("fields", ">i2")]
    for name, kind in _FIXED + [(f"x{i}", ">f8") for i in range(width)]:
        fields += [(f"len_{name}", ">i4"), (name, kind)]
    return np.dtype(fields)


def _binary_select(names: list[str], products: list[str]) -> tuple[str, list[Any]]:
    nan = "'NaN'::float8"
    columns = ["extract(epoch FROM p.event_ts)::float8",
               "coalesce(array_position(%s::text[], p.product_id::text), 0)",
               f"p.variant = '{BASELINE}'", "p.score", "p.threshold", "p.shadow_score",
               f"coalesce(p.shadow_threshold, {nan})", "o.realized_label"]
    columns += [f"coalesce((p.features ->> %s)::float8, {nan})"] * len(names)
    return ", ".join(columns), [products, *names]


class Columns:
    """Per-row columns of the backtest, preallocated for the counted rows and filled page by
    page (no list of pages, no second copy when they are joined)."""

    def __init__(self, rows: int) -> None:
        self.n = 0
        self.second = np.empty(rows, np.int64)  # event time, whole epoch seconds
        self.y = np.empty(rows, bool)
        self.product = np.empty(rows, np.int16)
        self.products: dict[str, int] = {}  # name → code (0: none of them)
        self.p = {name: np.empty(rows) for name in (CANDIDATE, CHAMPION, BASELINE)}
        self.t = {name: np.empty(rows) for name in (CHAMPION, BASELINE)}

    def add_rows(self, page: list[tuple], scorer: MLScorer, width: int) -> None:
        """A page of row tuples (SQLite's cursor)."""
        cols = list(zip(*page))
        codes = np.array([self.products.setdefault(p, len(self.products) + 1)
                          for p in cols[1]], np.int16)
        shadow_t = np.array([np.nan if v is None else v for v in cols[7]], float)
        self.add(scorer, ts=np.asarray(cols[0], float), product=codes,
                 served_base=np.asarray(cols[2], object) == BASELINE,
                 score=np.asarray(cols[3], float), threshold=np.asarray(cols[4], float),
                 shadow=np.asarray(cols[6], float), shadow_t=shadow_t,
                 label=np.asarray(cols[8], bool),
                 X=np.asarray(cols[9:9 + width], dtype=float).T)

    def add(self, scorer: MLScorer, *, ts, product, served_base, score, threshold, shadow,
            shadow_t, label, X) -> None:
        at = slice(self.n, self.n + len(ts))
        if at.stop > len(self.y):  # rows matured since they were counted
            self._grow(max(at.stop, int(len(self.y) * 1.25)))
        self.second[at] = np.floor(np.asarray(ts, dtype=np.float64)).astype(np.int64)
        self.product[at] = product
        served_base = np.asarray(served_base, bool)
        self.y[at] = label
        self.p[CANDIDATE][at] = scorer.score(np.ascontiguousarray(X, dtype=np.float64))
        self.p[CHAMPION][at], self.t[CHAMPION][at] = score, threshold
        self.p[BASELINE][at] = np.where(served_base, score, shadow)
        self.t[BASELINE][at] = np.where(served_base, threshold, shadow_t)
        self.n = at.stop

    def _grow(self, size: int) -> None:
        for name in ("second", "y", "product"):
            setattr(self, name, np.resize(getattr(self, name), size))
        self.p = {k: np.resize(v, size) for k, v in self.p.items()}
        self.t = {k: np.resize(v, size) for k, v in self.t.items()}

    def rows(self, candidate_threshold: float, block_seconds: int) -> Rows:
        n = self.n
        return Rows(y=self.y[:n], block=self.second[:n] // block_seconds,
                    variants={CANDIDATE: (self.p[CANDIDATE][:n], candidate_threshold),
                              CHAMPION: (self.p[CHAMPION][:n], self.t[CHAMPION][:n]),
                              BASELINE: (self.p[BASELINE][:n], self.t[BASELINE][:n])})


def _stream(version: ModelVersion, window: Window, columns: Columns, scorer: MLScorer,
            progress: Callable[[int], None]) -> None:
    """Read and score the window's rows page by page: by binary COPY on PostgreSQL, through a
    cursor elsewhere (SQLite, demo volumes)."""
    names = list(version.feature_names)
    where, params = window.where()
    if connection.vendor == "postgresql":
        _stream_copy(names, where, params, columns, scorer, progress)
        return
    select, keys = _select(names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} {where}", keys + params)
        while page := cursor.fetchmany(settings.BACKTEST_PAGE_ROWS):
            columns.add_rows(page, scorer, len(names))
            progress(len(page))


def _stream_copy(names: list[str], where: str, params: list[Any], columns: Columns,
                 scorer: MLScorer, progress: Callable[[int], None]) -> None:
    """Binary COPY of the rows, cut into pages of whole rows as the bytes arrive."""
    from predictions.selectors import prediction_products

    products = prediction_products()
    columns.products = {name: i + 1 for i, name in enumerate(products)}
    layout = _binary_layout(len(names))
    select, select_params = _binary_select(names, products)
    page_bytes = settings.BACKTEST_PAGE_ROWS * layout.itemsize
    buffer = bytearray()
    started = False

    def flush(rows: int) -> None:
        page = np.frombuffer(bytes(buffer[:rows * layout.itemsize]), dtype=layout)
        del buffer[:rows * layout.itemsize]
        columns.add(scorer, ts=page["ts"], product=page["product"].astype(np.int16),
                    served_base=page["served_base"], score=page["score"],
                    threshold=page["threshold"], shadow=page["shadow"],
                    shadow_t=page["shadow_t"], label=page["label"].astype(bool),
                    X=np.stack([page[f"x{i}"] for i in range(len(names))], axis=1))
        progress(rows)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 0")  # a backtest reads for a while
        sql = f"COPY (SELECT {select} {where}) TO STDOUT (FORMAT binary)"
        with cursor.cursor.copy(_bind(cursor, sql, select_params + params)) as copy:
            for chunk in copy:
                buffer += chunk
                if not started and len(buffer) >= _COPY_HEADER:
                    del buffer[:_COPY_HEADER]
                    started = True
                if started and len(buffer) >= page_bytes:
                    flush(len(buffer) // layout.itemsize)
    if buffer[-2:] == _COPY_TRAILER:
        del buffer[-2:]
    if len(buffer) % layout.itemsize:
        raise BacktestRefused("the database sent a row of an unexpected shape (a null?)")
    if buffer:
        flush(len(buffer) // layout.itemsize)


def _bind(cursor, sql: str, params: list[Any]) -> str:
    """The statement with its parameters bound client-side (COPY takes no parameters)."""
    from psycopg import ClientCursor

    with ClientCursor(cursor.cursor.connection) as client:
        return client.mogrify(sql, params)


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
    block = settings.BACKTEST_BLOCK_SECONDS
    rows = columns.rows(version.threshold, block)
    report: dict[str, Any] = {
        "model_version": version.name, "feature_set": FEATURE_SET_VERSION,
        "since": window.since.isoformat(), "until": window.until.isoformat(),
        "product": window.product, "rows": int(columns.n), "spikes": int(rows.y.sum()),
        "block_seconds": block, "resamples": settings.BACKTEST_BOOTSTRAP_RESAMPLES,
        "seed": settings.BACKTEST_SEED, "overall": _section(rows), "products": {}, "days": {},
        "curves": curves(rows, (CANDIDATE, CHAMPION)),
    }
    for name, code in sorted(columns.products.items()):
        mask = columns.product[:columns.n] == code
        if mask.any():
            report["products"][name] = _section(rows.subset(mask))
    days = columns.second[:columns.n] // 86400
    for day in np.unique(days).tolist():
        label = datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y-%m-%d")
        report["days"][label] = _section(rows.subset(days == day))
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def _row_fields(version: ModelVersion, window: Window, actor: Any, actor_name: str) -> dict:
    return {"model_version": version, "since": window.since, "until": window.until,
            "product_id": window.product or "",
            "actor": actor if getattr(actor, "pk", None) else None,
            "actor_name": actor_name or str(actor or "system")}


def backtest_refuse(*, version: ModelVersion, window: Window, error: str, actor: Any = None,
                    actor_name: str = "", seconds: float = 0.0) -> Backtest:
    """Store a backtest that could not be run, with the reason (shown on the version's page)."""
    return Backtest.objects.create(**_row_fields(version, window, actor, actor_name),
                                   status=Backtest.REFUSED, error=error, seconds=seconds)


def backtest_create(*, version: ModelVersion, window: Window, actor: Any = None,
                    actor_name: str = "", progress: Callable[[int], None] | None = None,
                    on_total: Callable[[int], None] | None = None) -> Backtest:
    """Run the backtest and store it as a `Backtest` row: the report, or why it was refused
    (stored too, so whoever asked from the admin sees the reason)."""
    started = time.monotonic()
    try:
        report = backtest_run(version=version, window=window, progress=progress,
                              on_total=on_total)
    except BacktestRefused as exc:
        return backtest_refuse(version=version, window=window, error=str(exc), actor=actor,
                               actor_name=actor_name, seconds=time.monotonic() - started)
    return Backtest.objects.create(**_row_fields(version, window, actor, actor_name),
                                   status=Backtest.OK, rows=report["rows"],
                                   spikes=report["spikes"], report=report,
                                   seconds=report["seconds"])
