"""Every process-local Prometheus metric of the product, defined once, with its help text.

A leaf: it imports no project app, so every part (API, stream, tasks, drift) may use these
definitions without an import cycle (.importlinter keeps it so). Values that the database
knows better (the active variant, consumer lag at the last batch, the latest drift report,
prediction age) are read at scrape time by `monitoring.collectors.DatabaseCollector`, so every
web worker reports the same numbers. Names keep the `volatility_` prefix the operators'
dashboards already use.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# --- API --------------------------------------------------------------------------------------
API_REQUESTS = Counter(
    "volatility_api_requests_total",
    "API requests answered, by endpoint, served variant and HTTP status.",
    ["endpoint", "variant", "status"],
)
API_ERRORS = Counter(
    "volatility_api_errors_total",
    "API requests answered with an error (4xx/5xx), by endpoint and error kind.",
    ["endpoint", "kind"],
)
API_LATENCY = Histogram(
    "volatility_api_latency_seconds",
    "Time to answer an API request, by endpoint and served variant.",
    ["endpoint", "variant"],
    buckets=LATENCY_BUCKETS,
)
API_ROWS_SCORED = Counter(
    "volatility_api_rows_scored_total",
    "Feature rows scored by the predict endpoint, by served variant.",
    ["variant"],
)
MODEL_LOAD_FAILURES = Counter(
    "volatility_model_load_failures_total",
    "ML artifacts refused at load (sha256 mismatch, corrupt, untrusted types).",
    ["model_version"],
)

# --- Stream consumer --------------------------------------------------------------------------
CONSUMER_MESSAGES = Counter(
    "volatility_consumer_messages_processed_total",
    "Kafka messages the consumer has processed, by outcome (scored, skipped, dead_lettered).",
    ["outcome"],
)
CONSUMER_OFFSET_RESETS = Counter(
    "volatility_consumer_offset_resets_total",
    "Stored offsets found outside the broker's log and reset (STREAM_OFFSET_RESET), by topic, "
    "partition and reason (ahead_of_log_end, behind_log_start).",
    ["topic", "partition", "reason"],
)
CONSUMER_ERRORS = Counter(
    "volatility_consumer_errors_total",
    "Consumer errors, by kind (poison message reasons, broker and database failures).",
    ["kind"],
)
CONSUMER_BATCH_SECONDS = Histogram(
    "volatility_consumer_batch_seconds",
    "Time to process one consumer batch: features, scoring, database commit.",
    buckets=LATENCY_BUCKETS,
)
PREDICTIONS_WRITTEN = Counter(
    "volatility_predictions_total",
    "Prediction rows written by the consumer, by served variant.",
    ["variant"],
)
TICK_TO_PREDICTION = Histogram(
    "volatility_tick_to_prediction_seconds",
    "From a tick's exchange time to its prediction row being committed.",
    buckets=LATENCY_BUCKETS,
)

PUBLISH_RETRIED = Counter(
    "volatility_publish_retried_total",
    "Messages a producer lost (its batches failed, e.g. after a broker restart) and sent again.",
    ["topic"],
)

# --- Drift ------------------------------------------------------------------------------------
DRIFT_REPORTS = Counter(
    "volatility_drift_reports_total",
    "Drift report runs, by status (ok, skipped, failed).",
    ["status"],
)

# --- SLOs (docs/slo.md) -------------------------------------------------------------------------
# Counted by monitoring/sli.py with the per-minute rollups the SLO page reads, so Prometheus
# and the page judge the same events; the generated rules (monitoring/rules.py) read these.
SLO_EVENTS = Counter(
    "volatility_slo_events_total",
    "Events judged by each SLO (requests, ticks, sampled minutes), by SLO key.",
    ["slo"],
)
SLO_GOOD_EVENTS = Counter(
    "volatility_slo_good_events_total",
    "Events that met their SLO's threshold, by SLO key.",
    ["slo"],
)
# Read from the configuration at scrape time by monitoring/slo_collector.py: (name, help).
SLO_TARGET = ("volatility_slo_target",
              "Objective of each SLO: the share of good events it promises (ServiceConfig).")
SLO_THRESHOLD = ("volatility_slo_threshold_seconds",
                 "What makes an event good for each SLO with a threshold, in seconds.")

# Alerts count events with increase(), which needs two samples of a series: the first event
# of a labelled series that the event itself creates (at 1) goes unseen. Children of the
# closed label sets exist at 0 from the start of every process, so the first dead letter or
# failed drift report of a process is counted (rules.yml, VolsiteDeadLetters and
# VolsiteDriftReportsFailing).
for _outcome in ("scored", "skipped", "dead_lettered"):
    CONSUMER_MESSAGES.labels(outcome=_outcome)
for _status in ("ok", "skipped", "failed"):
    DRIFT_REPORTS.labels(status=_status)
