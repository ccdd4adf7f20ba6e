"""Volsite settings: one file, driven by the environment.

Every setting has a working default for the embedded stack (`make run`): SQLite, the embedded
Tansu Kafka broker, Celery's filesystem transport. Production changes environment variables
only; `.env.example` lists every one of them.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from predictions.core.private_files import write_private
from predictions.core.process_names import process_name
from volsite.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime state of the embedded stack (SQLite file, Celery folders, secret key, metrics files).
RUNTIME_DIR = Path(env_str("VOLSITE_RUNTIME_DIR", str(BASE_DIR / "var")))
RUNTIME_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """The key comes from the environment; without one, a random key kept in RUNTIME_DIR."""
    key = env_str("DJANGO_SECRET_KEY")
    if key:
        return key
    path = RUNTIME_DIR / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(64))
    return path.read_text().strip()


# Secrets copied from documentation: .env.example's placeholder and Django's own. With DEBUG
# off, startup refuses them (check --deploy only warns, and only when someone runs it).
PLACEHOLDER_SECRETS = frozenset({
    "replace-with-a-long-random-string-from-your-secret-store", "change-me", "changeme",
    "secret", "django-insecure", "replace-me",
    "replace-with-a-random-token-from-your-secret-store",  # .env.example's METRICS_TOKEN
})


def refuse_placeholder_secret(key: str, debug: bool, name: str = "DJANGO_SECRET_KEY") -> None:
    if not debug and (key.strip().lower() in PLACEHOLDER_SECRETS
                      or key.startswith("django-insecure-")):
        raise ImproperlyConfigured(
            f"{name} is a placeholder from the documentation; set a long random "
            "secret (python -c 'import secrets; print(secrets.token_urlsafe(64))')")


# --- Core Django -----------------------------------------------------------------------------
SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)  # never on in production
refuse_placeholder_secret(SECRET_KEY, DEBUG)
# Earlier keys still accepted for signatures made with them (sessions, password-reset links)
# while a rotated DJANGO_SECRET_KEY takes over (docs/runbook.md, "Rotating secrets").
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Behind TLS (production): secure cookies, HTTPS redirect and HSTS. Off for the local stack,
# which serves plain HTTP on localhost.
SECURE = env_bool("DJANGO_SECURE", False)
SECURE_SSL_REDIRECT = SECURE
# Prometheus scrapes and load-balancer probes speak plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^metrics$", r"^api/v1/health$", r"^api/v1/ready$"]
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000) if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
if env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "django_celery_results",
    "django_prometheus",
    "predictions",
    "monitoring",
    "drift",
    # The project itself: syncs the beat schedule (volsite/periodic_tasks.py) after migrate.
    "volsite.apps.VolsiteConfig",
]

MIDDLEWARE = [
    # Malformed or oversized Content-Length answered before anything reads it (400 / 413).
    "volsite.request_limits.RequestLimitsMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A view that finds the database away answers 503 + Retry-After, not 500.
    "volsite.database_outage.DatabaseOutageMiddleware",
    "monitoring.middleware.ApiSliMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "volsite.urls"
WSGI_APPLICATION = "volsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASE_URL selects the database: PostgreSQL in production and CI, a SQLite file by default.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{RUNTIME_DIR / 'volsite.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A kept connection is checked before a request (or task) reuses it: one that a
        # database restart broke is replaced, instead of failing the first call after it.
        conn_health_checks=True,
    )
}
# PostgreSQL only: bounded waits on every connection, so a hung network, a lock queue or a
# runaway query fails the call (and the run retries) instead of hanging a worker for good.
# Connect timeout (s); statement and lock timeouts (ms, 0 = none: set 0 for a long migration);
# TCP keepalives find a dead server within idle + interval × count seconds.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5)
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 60_000)
DATABASE_LOCK_TIMEOUT_MS = env_int("DATABASE_LOCK_TIMEOUT_MS", 10_000)
DATABASE_KEEPALIVES_IDLE = env_int("DATABASE_KEEPALIVES_IDLE", 30)
# PostgreSQL only: the name this process shows in pg_stat_activity. Empty: from the command line
# (volsite-web, volsite-worker, volsite-stream[-slot-N], volsite-beat, volsite-<command>).
DATABASE_APPLICATION_NAME = env_str("DATABASE_APPLICATION_NAME", "") or process_name(sys.argv)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "connect_timeout": DATABASE_CONNECT_TIMEOUT,
        "options": f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS} "
                   f"-c lock_timeout={DATABASE_LOCK_TIMEOUT_MS}",
        "keepalives": 1, "keepalives_idle": DATABASE_KEEPALIVES_IDLE,
        "keepalives_interval": 10, "keepalives_count": 3,
        "application_name": DATABASE_APPLICATION_NAME,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes share the file: wait for locks instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Our own date formats for the English locale (volsite/formats/en/formats.py): the admin
# shows times to the second ("2026-12-07 16:14:42"), not "Dec. 7, 2026, 4:14 p.m.".
FORMAT_MODULE_PATH = ["volsite.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(RUNTIME_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"kafka": {"level": "ERROR"}},
}

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF tokens (admin → Tokens), each remembered per process for API_TOKEN_CACHE_SECONDS.
        "predictions.api.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # orjson both ways (predictions/api/parsers.py keeps NaN/Infinity literals out).
    "DEFAULT_RENDERER_CLASSES": ["predictions.api.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["predictions.api.parsers.OrjsonParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # History pages by keyset on (event_ts, id) (predictions/api/pagination.py): no COUNT(*).
    "DEFAULT_PAGINATION_CLASS": "predictions.api.pagination.KeysetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "predictions.api.exceptions.api_exception_handler",
    # Views that set `throttle_scope` are limited per token at API_THROTTLE_RATES (below).
    "DEFAULT_THROTTLE_CLASSES": ["predictions.api.throttling.TokenRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Volsite API",
    "DESCRIPTION": "Short-horizon volatility-spike prediction for crypto tick streams.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI and Redoc from local static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"ModelVariantEnum": "predictions.models.VARIANT_CHOICES"},
    # Every operation documents the 4xx a malformed request can get (400, 406, 429).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "predictions.api.schema.document_common_errors"],
}
# A verified token is remembered per process this long, so predict needs no DB query per
# request; a revoked token or a deactivated user is refused everywhere within this time.
API_TOKEN_CACHE_SECONDS = env_float("API_TOKEN_CACHE_SECONDS", 1.0)
# Most rows one predict request may carry.
PREDICT_MAX_ROWS = env_int("PREDICT_MAX_ROWS", 1000)
# Largest API request body in bytes: a bigger one (declared or sent) is answered 413 before it
# is parsed. 1000 rows of the model's features take about 0.5 MB as JSON.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 2 * 1024 * 1024)

# Per-token request rates ("N/second|minute|hour|day"; "off" disables a scope). A DRF token
# belongs to one user, so each token gets its own budget; over it the API answers 429 with
# Retry-After. ready is limited per client address instead; health, version and the schema
# are never throttled.
API_THROTTLE_RATES = {
    "predict": env_str("API_THROTTLE_PREDICT", "6000/minute"),  # POST /api/v1/predict
    "history": env_str("API_THROTTLE_HISTORY", "600/minute"),  # predictions, latest
    "ready": env_str("API_THROTTLE_READY", "120/minute"),  # /api/v1/ready, per client address
}
# The cache alias holding the counters. With the default per-process memory cache each web
# worker counts on its own (a token may get up to workers × rate); set CACHE_URL to Redis for
# one shared count.
API_THROTTLE_CACHE = "default"
# Each process takes up to this many requests of a token's window from the shared count at a
# time (predictions/api/throttling.py); 1 counts every request in the cache.
API_THROTTLE_RESERVE = max(1, env_int("API_THROTTLE_RESERVE", 64))

# /readiness probes: one answer is reused for this long per process (a probe storm costs one
# check a second), and each client address may ask API_THROTTLE_READY times (429 past it).
READY_CACHE_SECONDS = env_float("READY_CACHE_SECONDS", 1.0)

# --- Metrics access ------------------------------------------------------------------------------
# /metrics answers a request carrying `Authorization: Bearer <METRICS_TOKEN>` (set it, and give
# Prometheus the same: compose.yaml does) or coming from one of these networks (the peer
# address; loopback by default, so a local scrape needs nothing). Anyone else gets 403. The
# token also unlocks the details of /api/v1/ready.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if METRICS_TOKEN:  # a token copied from .env.example would open /metrics to anyone who read it
    refuse_placeholder_secret(METRICS_TOKEN, DEBUG, "METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")

# --- Cache ---------------------------------------------------------------------------------------
# CACHE_URL=redis://host:6379/1 shares the cache (throttle counters) between processes; without
# it each process has its own memory cache.
CACHE_URL = env_str("CACHE_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL.startswith(("redis://", "rediss://", "unix://"))
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "volsite"}
}

# --- Shared configuration ---------------------------------------------------------------------
# How often a process re-reads the ServiceConfig version counter. A flip in the admin reaches
# every web worker and consumer within this many seconds.
CONFIG_REFRESH_SECONDS = env_float("CONFIG_REFRESH_SECONDS", 0.5)
# Default active variant written by the initial data migration.
DEFAULT_MODEL_VARIANT = env_str("MODEL_VARIANT", "ml")

# --- Kafka -------------------------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS = env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
KAFKA_TOPIC_TICKS = env_str("KAFKA_TOPIC_TICKS", "ticks.raw")
KAFKA_TOPIC_DLQ = env_str("KAFKA_TOPIC_DLQ", "ticks.raw.dlq")
KAFKA_TOPIC_PREDICTIONS = env_str("KAFKA_TOPIC_PREDICTIONS", "predictions")
KAFKA_TOPIC_PARTITIONS = env_int("KAFKA_TOPIC_PARTITIONS", 3)
KAFKA_CONSUMER_GROUP = env_str("KAFKA_CONSUMER_GROUP", "volsite-stream")
# How long a fetch may wait at the broker for data. kafka-python's 500 ms default costs the
# embedded broker (Tansu) ~125 ms of tick-to-prediction latency at p50 and a fifth of replay
# throughput; 50 ms costs an idle consumer 20 small requests a second.
KAFKA_FETCH_MAX_WAIT_MS = env_int("KAFKA_FETCH_MAX_WAIT_MS", 50)

# --- Stream consumer ---------------------------------------------------------------------------
# A consumer task runs for at most this long (or this many messages), then re-enqueues itself.
STREAM_RUN_SECONDS = env_float("STREAM_RUN_SECONDS", 30.0)
STREAM_RUN_MAX_MESSAGES = env_int("STREAM_RUN_MAX_MESSAGES", 200_000)
# Records per poll. Large polls matter for throughput (kafka-python's per-poll cost, and one
# transaction per partition batch); at a live rate a poll returns far fewer anyway.
STREAM_POLL_MAX_RECORDS = env_int("STREAM_POLL_MAX_RECORDS", 5000)
# On PostgreSQL, write each batch on a thread of its own while the next one is prepared.
STREAM_PIPELINE_WRITES = env_bool("STREAM_PIPELINE_WRITES", True)
# A consumer holds its lease for this long past its last batch (or idle poll) and renews it
# every third of it. A crashed consumer's partitions wait this long, then a new chain takes
# them (stream_supervise looks again at the expiry): 31–32 s measured by default.
STREAM_LEASE_SECONDS = env_float("STREAM_LEASE_SECONDS", 30.0)
# Interval of the `stream-supervise` beat task (volsite/periodic_tasks.py: applied to its
# schedule row at every migrate, so a change applies at the next start).
STREAM_SUPERVISE_SECONDS = env_int("STREAM_SUPERVISE_SECONDS", 15)
# Lease slots: slot s consumes the partitions p with p % STREAM_CONSUMER_SLOTS == s, so up to
# this many stream worker processes share the work. Changing it is safe (offset fencing), but
# give each slot its own worker process (or concurrency) so no slot waits behind another.
STREAM_CONSUMER_SLOTS = env_int("STREAM_CONSUMER_SLOTS", 1)
# Poison breaker: a batch that failed this many runs with a data error at the same offset is
# written one record per transaction, and a record that then fails alone is dead-lettered and
# skipped (predictions/stream/breaker.py). Outages (database, broker) are never counted.
STREAM_BREAKER_FAILURES = env_int("STREAM_BREAKER_FAILURES", 3)
# Longest wait of the consumer for its writer thread (a hand-over or the final join); past
# it the run fails with WriterStuck and is retried. Above the statement timeout on purpose.
STREAM_WRITER_TIMEOUT_SECONDS = env_float("STREAM_WRITER_TIMEOUT_SECONDS", 120.0)
# Watchdog: a stream run path (consume, the Celery chain) that makes no progress (no poll
# return, batch or lease renewal) for this long dumps its stacks and ends the process (exit
# code 70) for the supervisor to restart. Keep it above STREAM_WRITER_TIMEOUT_SECONDS and the
# statement timeout, the longest legitimate waits without progress.
STREAM_WATCHDOG_GRACE_SECONDS = env_float("STREAM_WATCHDOG_GRACE_SECONDS", 180.0)
# A stored offset outside the broker's log (it lost or truncated it) is reset at the next claim
# to the start of the log there now ("earliest": nothing the broker holds is skipped) or to its
# end ("latest": only new messages), in a new log epoch; each reset is recorded (docs/stream.md).
STREAM_OFFSET_RESET = env_str("STREAM_OFFSET_RESET", "earliest")
if STREAM_OFFSET_RESET not in ("earliest", "latest"):
    raise ImproperlyConfigured("STREAM_OFFSET_RESET must be 'earliest' or 'latest'")

# --- Features, labels, training ----------------------------------------------------------------
FEATURE_WINDOWS_SECONDS = [int(w) for w in env_list("FEATURE_WINDOWS_SECONDS", "30,60,300")]
# A pause in a product's ticks longer than this resets its feature windows.
FEATURE_GAP_SECONDS = env_float("FEATURE_GAP_SECONDS", 30.0)
LABEL_HORIZON_SECONDS = env_float("LABEL_HORIZON_SECONDS", 60.0)
LABEL_PERCENTILE = env_float("LABEL_PERCENTILE", 90.0)
# Interval of the `labels-mature` beat task (attaches realized labels once the horizon passed;
# applied at every migrate, as every interval setting in volsite/periodic_tasks.py), and the
# most rows per product it reads in one go.
LABEL_MATURE_SECONDS = env_int("LABEL_MATURE_SECONDS", 30)
# Interval of the `auto-rollback` beat task (applied at every migrate); the policy itself (off
# by default, thresholds) is in the Service configuration.
AUTO_ROLLBACK_SECONDS = env_int("AUTO_ROLLBACK_SECONDS", 60)
LABEL_MATURE_BATCH_ROWS = env_int("LABEL_MATURE_BATCH_ROWS", 20_000)
# Rows per transaction of label maturing (one set-based UPDATE and the rollups' additions):
# short transactions, so no lock on the predictions is held for long (bench/volume.py).
LABEL_MATURE_WRITE_ROWS = env_int("LABEL_MATURE_WRITE_ROWS", 5000)
# A maturing run goes on batch after batch while rows are due, for at most this long (a
# backlog after a worker outage clears in a few runs rather than 20,000 rows per interval).
LABEL_MATURE_RUN_SECONDS = env_float("LABEL_MATURE_RUN_SECONDS", 20.0)

# --- Backtests (docs/backtest.md) --------------------------------------------------------------
# Time block the bootstrap resamples whole (neighbouring ticks are not independent), seconds.
BACKTEST_BLOCK_SECONDS = env_int("BACKTEST_BLOCK_SECONDS", 3600)
# Window of the admin's "Backtest on live history" action: the last this many days.
BACKTEST_WINDOW_DAYS = env_float("BACKTEST_WINDOW_DAYS", 7.0)
# Block resamples per interval (95 %), and the seed that makes an interval reproducible.
BACKTEST_BOOTSTRAP_RESAMPLES = env_int("BACKTEST_BOOTSTRAP_RESAMPLES", 1000)
BACKTEST_SEED = env_int("BACKTEST_SEED", 0)
# Rows per fetch of the backtest's server-side cursor (the memory of one page of features).
BACKTEST_PAGE_ROWS = env_int("BACKTEST_PAGE_ROWS", 50_000)
# A backtest is evidence for a promotion when it holds at least this many matured rows and
# spikes; otherwise the training-time walk-forward guardrail decides alone.
BACKTEST_MIN_ROWS = env_int("BACKTEST_MIN_ROWS", 10_000)
BACKTEST_MIN_SPIKES = env_int("BACKTEST_MIN_SPIKES", 200)

# --- Simulator and ingest ----------------------------------------------------------------------
# What `make run` feeds into Kafka: simulate | replay (TICK_REPLAY_FILES) | coinbase (live).
TICK_SOURCE = env_str("TICK_SOURCE", "simulate")
# Comma-separated captured files replayed in a loop-free single pass when TICK_SOURCE=replay.
TICK_REPLAY_FILES = env_list("TICK_REPLAY_FILES")
SIMULATOR_PRODUCTS = env_list("SIMULATOR_PRODUCTS", "BTC-USD,ETH-USD")
SIMULATOR_SEED = env_int("SIMULATOR_SEED", 7)
# The live source (`ingest --source coinbase`): Coinbase Advanced Trade market-data WebSocket.
# Tests point it at a local server that replays recorded messages.
COINBASE_WS_URL = env_str("COINBASE_WS_URL", "wss://advanced-trade-ws.coinbase.com")
# Reconnect backoff: doubles from the initial delay up to the cap, with jitter.
COINBASE_WS_BACKOFF_INITIAL_SECONDS = env_float("COINBASE_WS_BACKOFF_INITIAL_SECONDS", 1.0)
COINBASE_WS_BACKOFF_MAX_SECONDS = env_float("COINBASE_WS_BACKOFF_MAX_SECONDS", 30.0)
# Heartbeats arrive every second: this long without any message means the connection is dead.
COINBASE_WS_IDLE_SECONDS = env_float("COINBASE_WS_IDLE_SECONDS", 15.0)

# --- Drift -------------------------------------------------------------------------------------
# A drift run with fewer recent prediction rows than this is stored as skipped. (How many
# rows are compared is ServiceConfig.drift_window_rows, editable in the admin.)
DRIFT_MIN_ROWS = env_int("DRIFT_MIN_ROWS", 200)
# The current rows of a drift report are the newest drift_window_rows, and none older than
# this many hours (a stalled stream is not compared with day-old rows as if they were new).
DRIFT_WINDOW_MAX_HOURS = env_float("DRIFT_WINDOW_MAX_HOURS", 24.0)

# --- Retention (the hourly housekeeping task) --------------------------------------------------
PREDICTION_RETENTION_DAYS = env_int("PREDICTION_RETENTION_DAYS", 30)
# Per-minute API rollups behind the SLO page; keep at least its longest window (30 d).
API_ROLLUP_RETENTION_DAYS = env_int("API_ROLLUP_RETENTION_DAYS", 35)
DRIFT_REPORT_RETENTION_DAYS = env_int("DRIFT_REPORT_RETENTION_DAYS", 90)
# Live-performance minute rollups (a window's partial hours); an older window edge snaps to
# its day (UTC midnight). Hour and day rollups are kept API_ROLLUP_RETENTION_DAYS.
LIVE_MINUTE_RETENTION_HOURS = env_int("LIVE_MINUTE_RETENTION_HOURS", 48)
# Predictions are deleted in transactions of at most this many ids (a range of the primary
# key), so retention never holds a long lock or a long transaction.
RETENTION_DELETE_IDS = env_int("RETENTION_DELETE_IDS", 50_000)
# Evidently's HTML is ~5 MB a report: only the newest this many keep it.
DRIFT_HTML_KEEP = env_int("DRIFT_HTML_KEEP", 24)

# --- Monitoring --------------------------------------------------------------------------------
# API request counts are flushed to the database this often per process (SLO page), by a
# background thread; 0 writes them inline with each request.
SLI_FLUSH_SECONDS = env_float("SLI_FLUSH_SECONDS", 5.0)
# The token predict path's request counts (Prometheus series and SLI counts) are published from
# process memory this often, by a background thread (monitoring/request_tally.py); 0 publishes
# each request as it is answered.
METRICS_PUBLISH_SECONDS = env_float("METRICS_PUBLISH_SECONDS", 1.0)
PROMETHEUS_EXPORT_MIGRATIONS = False

# --- Celery ------------------------------------------------------------------------------------
# Without CELERY_BROKER_URL, kombu's filesystem transport under RUNTIME_DIR is the broker.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _celery_dir = RUNTIME_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "data_folder_processed": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540)
CELERY_TASK_ROUTES = {"predictions.tasks.stream_consume": {"queue": "stream"}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
