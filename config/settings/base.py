"""Granary's settings. Everything a deployment changes comes from the environment (see README)."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from csp.constants import NONCE as CSP_NONCE
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured

from config.settings.env import (
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_redis_url,
    env_size,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])


def _secret_key() -> str:
    """SECRET_KEY from the environment, or one generated once and kept in var/ for a laptop."""
    key = env_str("SECRET_KEY", "")
    if key:
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # failed sign-in limits (see "Signing in" below)
    "csp",  # the Content-Security-Policy header (see "Production hardening" below)
    # Granary's apps, lowest layer first: each imports only those above it (make lint checks).
    "audit",
    "accounts",
    "webhooks",
    "datasets",
    "quality",
    "lineage",
    "search",
    "catalog",
    "api",
    # Health checks, metrics and logs (config/health.py, config/metrics.py; README "Deployment").
    "config.apps.OperationsConfig",
]

MIDDLEWARE = [
    # First: the request's id for the logs, and its latency by route for /metrics.
    "config.metrics.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before any view: no NUL in an address reaches the database (core.middleware).
    "core.middleware.RefuseNulMiddleware",
    "csp.middleware.CSPMiddleware",
    # Before anything records an audit event: where the request came from.
    "audit.context.ClientAddressMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the body, so an oversized upload is refused unread.
    "datasets.uploads.UploadLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "catalog.middleware.DomainErrorMiddleware",
    # The database or storage lost mid-request: a 503 with Retry-After (config.health).
    "config.health.UnavailableMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its answer (LOCKOUT_CALLABLE).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "catalog.context_processors.pending_requests",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'granary.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; the timeout rides out short write locks.
    # A page cache of 32 MB per connection, not SQLite's 2 MB: a search of a common word reads more
    # index pages than 2 MB hold, and read them back from the OS on every request (at 100,000
    # datasets, in-process: `sales` 53.7 -> 48.6 ms, `tag:nlp certified:yes` 18.1 -> 12.9; 64 MB
    # measured the same). Pages are taken as they are used, so a small catalog uses little.
    # And the file memory-mapped (up to SQLite's 2 GB cap; past it, pages are read as before): each
    # of the web server's threads (8 in `make run`, 16 as deployed) has its own connection, whose
    # cache copied the same pages from the OS again and again; mapped, they read the OS's one copy.
    # Two gunicorn servers side by side at 100,000 datasets, p95 ms without / with: `sales` 72 / 66,
    # `tag:nlp certified:yes` with facets 47 / 38, suggest 19 / 18, columns 22 / 18.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768; "
            "PRAGMA mmap_size=2147418112;",
        }
    )
    # A connection per request cost each SQLite request 3-4 ms of CPU (of a search's 13 at 2,000
    # datasets): opening the file, reading the schema back (FTS5 tables and all), registering
    # Django's functions and running the PRAGMAs above, all before the first query. Kept a minute
    # per thread, as PostgreSQL's; between requests a kept connection holds no transaction, so it
    # never blocks a writer or a WAL checkpoint. `?conn_max_age=0` goes back to one per request.
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
else:
    # A connection per request cost PostgreSQL a new backend, with cold caches, every time: a
    # search at 100,000 datasets answered in 92 ms p95 instead of 138 (bench/search.py). Kept a
    # minute and checked before reuse, so a restarted server costs one reconnect, not an error.
    # `?conn_max_age=0` in DATABASE_URL goes back to one per request (e.g. behind pgbouncer).
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# --- Signing in: failed-attempt limits (django-axes) --------------------------------------------
# Every password check (the portal's form, the admin's, the API's token exchange) goes through
# django.contrib.auth.authenticate with the request, so axes' backend refuses a locked account or
# address before the password is even compared, and each failure is a row in the database that all
# web processes share. An account locks after GRANARY_LOGIN_FAILURE_LIMIT failures from anywhere,
# an address after as many failures for any usernames; either lifts GRANARY_LOGIN_COOLOFF_MINUTES
# after its last failure. A success does not reset the count, or an attacker with an account of
# their own could clear their address's count between guesses.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("GRANARY_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("GRANARY_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "core.http.client_address"  # GRANARY_TRUSTED_PROXIES, below
AXES_LOCKOUT_CALLABLE = "accounts.authentication.login_locked_response"
_cooloff_minutes = int(AXES_COOLOFF_TIME.total_seconds() // 60)
AXES_COOLOFF_MESSAGE = (
    "Too many failed sign-ins for this account or from this address: "
    f"try again in {_cooloff_minutes} minute{'' if _cooloff_minutes == 1 else 's'}."
)
AXES_VERBOSE = False

# --- Proxies -------------------------------------------------------------------------------------
# How many reverse proxies stand in front of Granary. 0: requests come straight from clients, so
# the client's address is the connection's (REMOTE_ADDR) and no X-Forwarded-* header is believed.
# n > 0: each proxy appends the address it received the request from to X-Forwarded-For, so the
# client is the n-th entry from the right (entries further left are whatever the client wrote),
# and the nearest proxy's X-Forwarded-Proto says whether the client used HTTPS.
GRANARY_TRUSTED_PROXIES = env_int("GRANARY_TRUSTED_PROXIES", 0, minimum=0)
if GRANARY_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Granary -------------------------------------------------------------------------------------
# How Granary's own links are written in webhooks and metadata (the address users reach it at).
GRANARY_SITE_URL = env_str("GRANARY_SITE_URL", "http://127.0.0.1:8000")
GRANARY_DATA_DIR = Path(env_str("GRANARY_DATA_DIR", str(VAR_DIR / "data"))).resolve()
GRANARY_MAX_UPLOAD_BYTES = env_size("GRANARY_MAX_UPLOAD_BYTES", 10 * 1024**3)
GRANARY_ANONYMOUS_READ = env_bool("GRANARY_ANONYMOUS_READ", False)
GRANARY_TOKEN_DAYS = env_int("GRANARY_TOKEN_DAYS", 90)
# --- API tokens: lifetime (scopes are in accounts/scopes.py) ---
# No token is issued for longer than this (a longer request is a 400 naming the limit); tokens
# issued before keep the expiry they were given. The default lifetime must fit under it.
GRANARY_TOKEN_MAX_DAYS = env_int("GRANARY_TOKEN_MAX_DAYS", 365)
if GRANARY_TOKEN_DAYS > GRANARY_TOKEN_MAX_DAYS:
    raise ImproperlyConfigured(
        f"GRANARY_TOKEN_DAYS={GRANARY_TOKEN_DAYS} is longer than "
        f"GRANARY_TOKEN_MAX_DAYS={GRANARY_TOKEN_MAX_DAYS}: lower it or raise the maximum."
    )
# Let the front server send blobs (nginx: x-accel-redirect, Apache/lighttpd: x-sendfile), so a
# slow download does not hold an application worker.
GRANARY_SENDFILE = env_choice("GRANARY_SENDFILE", "", ("", "x-accel-redirect", "x-sendfile"))
GRANARY_SENDFILE_PREFIX = env_str("GRANARY_SENDFILE_PREFIX", "/_granary_blobs/")
# --- Blob storage (README, "Storage") ---
# `file:///abs/path` or `s3://bucket/prefix`; empty: the filesystem under GRANARY_DATA_DIR.
# Credentials and region are boto3's own (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_DEFAULT_REGION...);
# the endpoint of MinIO, Ceph or R2 comes from here or from boto3's AWS_ENDPOINT_URL.
GRANARY_STORAGE_URL = env_str("GRANARY_STORAGE_URL", "").strip()
GRANARY_S3_ENDPOINT_URL = env_str("GRANARY_S3_ENDPOINT_URL", "").strip()
# Empty: path-style with a custom endpoint (MinIO by IP), boto3's choice on AWS.
GRANARY_S3_ADDRESSING_STYLE = env_choice("GRANARY_S3_ADDRESSING_STYLE", "", ("", "auto", "path", "virtual"))
# Files above this go to S3 in parts, uploaded in parallel and committed only if the key is absent.
GRANARY_S3_MULTIPART_BYTES = env_size("GRANARY_S3_MULTIPART_BYTES", 64 * 1024**2)
# How long a presigned download (or upload part) URL stays valid.
GRANARY_PRESIGNED_URL_SECONDS = env_int("GRANARY_PRESIGNED_URL_SECONDS", 300)
# Downloads from a store with presigned URLs (S3): `redirect` sends the client to one; `stream`
# serves the bytes through the app, for clients that cannot reach the store.
GRANARY_DOWNLOAD_MODE = env_choice("GRANARY_DOWNLOAD_MODE", "redirect", ("redirect", "stream"))
# --- Direct uploads (README, "Direct uploads"): big files go from the client to S3 in parts ---
# The client takes the direct path for files above this (on object storage only).
GRANARY_DIRECT_UPLOAD_BYTES = env_size("GRANARY_DIRECT_UPLOAD_BYTES", 100 * 1024**2)
# Parts of this size (at least 5 MiB; boto3's 8 MiB), grown for a file that would need more than 1,000.
GRANARY_DIRECT_UPLOAD_PART_BYTES = env_size("GRANARY_DIRECT_UPLOAD_PART_BYTES", 8 * 1024**2)
# An upload not completed by then is aborted by the sweeper (its part URLs expire with it).
GRANARY_DIRECT_UPLOAD_HOURS = env_int("GRANARY_DIRECT_UPLOAD_HOURS", 24)
# Direct uploads one user may hold open at once (each may keep parts in staging); more is a 429.
GRANARY_DIRECT_UPLOADS_OPEN_MAX = env_int("GRANARY_DIRECT_UPLOADS_OPEN_MAX", 10)
# --- Ingest limits: what one hostile file may cost a worker (README, "Hostile files") ---
# Each refusal fails the version with a reason naming its setting.
# Columns, nested fields included; a CSV header is counted before pyarrow parses anything.
GRANARY_MAX_COLUMNS = env_int("GRANARY_MAX_COLUMNS", 2000)
# The longest row (or JSON line). Also the parser's block size: pyarrow can only take a row that
# fits in a block, and memory per column grows with it.
GRANARY_MAX_ROW_BYTES = env_size("GRANARY_MAX_ROW_BYTES", 1024**2)
# How deep JSON objects and lists (and Parquet's nested types) may nest: pyarrow's JSON reader
# crashes the process on lines about 10,000 levels deep, and the profiler recurses per level.
GRANARY_MAX_NESTING_DEPTH = env_int("GRANARY_MAX_NESTING_DEPTH", 64)
# Gzip uploads: at most this many bytes decompressed, and at most this many times the file's own
# size (files that expand to less than 16 MiB are never refused for their ratio).
GRANARY_MAX_DECOMPRESSED_BYTES = env_size("GRANARY_MAX_DECOMPRESSED_BYTES", 20 * GRANARY_MAX_UPLOAD_BYTES)
GRANARY_MAX_DECOMPRESSION_RATIO = env_int("GRANARY_MAX_DECOMPRESSION_RATIO", 100)
# Parquet: the footer pyarrow parses before reading any row (it takes 5 to 8 times its size in
# memory), and the number of row groups, each read on its own.
GRANARY_MAX_PARQUET_METADATA_BYTES = env_size("GRANARY_MAX_PARQUET_METADATA_BYTES", 16 * 1024**2)
GRANARY_MAX_PARQUET_ROW_GROUPS = env_int("GRANARY_MAX_PARQUET_ROW_GROUPS", 10_000)
# --- end of ingest limits ---
# Validation holds the suite's columns in memory (GX on pandas); larger versions are refused.
GRANARY_VALIDATION_MEMORY_BYTES = env_size("GRANARY_VALIDATION_MEMORY_BYTES", 4 * 1024**3)
GRANARY_VALIDATION_BYTES_PER_CELL = 64  # measured by bench/validate.py: 55 to 64 bytes per cell
# --- The data viewer and SQL console (datasets/viewer/; README "Data viewer API") ---
# Rows per page of a version's rows; a query's result is cut at GRANARY_QUERY_MAX_ROWS (truncated).
GRANARY_VIEWER_MAX_ROWS = env_int("GRANARY_VIEWER_MAX_ROWS", 1000, minimum=1)
GRANARY_QUERY_MAX_ROWS = env_int("GRANARY_QUERY_MAX_ROWS", 1000, minimum=1)
# Each query (and each page of rows) runs in the web process: cancelled after this many seconds,
# with at most this much memory and this many DuckDB threads.
GRANARY_QUERY_TIMEOUT_SECONDS: float = env_int("GRANARY_QUERY_TIMEOUT_SECONDS", 10)
GRANARY_QUERY_MEMORY_BYTES = env_size("GRANARY_QUERY_MEMORY_BYTES", 512 * 1024**2)
GRANARY_QUERY_THREADS = env_int("GRANARY_QUERY_THREADS", 1, minimum=1)
# A query's result downloaded as CSV or Parquet (web process): at most this many rows, this long.
GRANARY_QUERY_EXPORT_MAX_ROWS = env_int("GRANARY_QUERY_EXPORT_MAX_ROWS", 1_000_000, minimum=1)
GRANARY_QUERY_EXPORT_TIMEOUT_SECONDS: float = env_int("GRANARY_QUERY_EXPORT_TIMEOUT_SECONDS", 60, minimum=1)
# A query saved as a version runs on an ingest worker, every row, cancelled after this long.
GRANARY_QUERY_SAVE_TIMEOUT_SECONDS: float = env_int("GRANARY_QUERY_SAVE_TIMEOUT_SECONDS", 1800, minimum=1)
# --- Webhooks: where deliveries may go (webhooks/egress.py; README "Security", "Webhooks") ---
# A webhook may only reach public addresses, checked when it is added and on the address each
# delivery connects to. These networks (comma-separated CIDRs) are exempt, for receivers inside
# the organisation; cloud metadata addresses stay refused even inside them.
GRANARY_WEBHOOK_ALLOWED_NETWORKS = env_list("GRANARY_WEBHOOK_ALLOWED_NETWORKS", [])
for _network in GRANARY_WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"GRANARY_WEBHOOK_ALLOWED_NETWORKS: {_network!r} is not a network: "
            "use CIDRs such as 10.20.0.0/16 or fd12:3456::/48, comma-separated."
        ) from None
# Plain http lets anyone on the path read and replay events: https only, unless allowed here.
GRANARY_WEBHOOK_ALLOW_HTTP = env_bool("GRANARY_WEBHOOK_ALLOW_HTTP", False)
GRANARY_WEBHOOK_TIMEOUT_SECONDS = 10
# A version still `processing` this long after its last change is considered stuck.
GRANARY_STUCK_AFTER_MINUTES = env_int("GRANARY_STUCK_AFTER_MINUTES", 60)
# The OpenLineage namespace whose dataset names are Granary slugs; empty means the site's own URL
# as the request reaches it (`https://granary.example.org`).
GRANARY_OPENLINEAGE_NAMESPACE = env_str("GRANARY_OPENLINEAGE_NAMESPACE", "").strip()

FILE_UPLOAD_HANDLERS = ["datasets.uploads.BlobUploadHandler"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- REST API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # TokenScope: what an API token's scope and team limit allow, checked for every request.
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.PortalAccess", "api.permissions.TokenScope"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "PAGE_SIZE": 50,
    # Bodies are JSON, read up to DATA_UPLOAD_MAX_MEMORY_SIZE and nested at most 64 deep (413 and
    # 400 past them), so a field has one type; only uploads are multipart (api.versions).
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # drf-spectacular's, adding the errors each operation can answer (api.schema).
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `format` is ours (the download's data format), not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Granary API",
    "DESCRIPTION": "Curated, versioned training data: datasets, immutable versions, teams and tokens.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A PATCH body requires what its serializer requires (a role change needs `role`), not nothing.
    "COMPONENT_SPLIT_PATCH": False,
    "ENUM_NAME_OVERRIDES": {
        "VersionStatusEnum": "datasets.models.Version.Status",
        "DatasetStatusEnum": "datasets.models.Dataset.Status",
    },
}

# --- Celery (README, "Workers, queues and faults") -----------------------------------------------
REDIS_URL = env_redis_url("REDIS_URL", "redis://127.0.0.1:6390/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
# Queues by kind of work (routes in config/celery.py), so each can have its own machines.
CELERY_TASK_DEFAULT_QUEUE = "io"
# Nothing is lost when a worker dies: a task is acknowledged only once it has finished, and one
# whose worker vanished goes back on the queue. Long tasks: a process takes one message at a time,
# so a message never waits behind another task in a busy process while an idle one could run it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The hard limit ends a task that has run away (ingest of terabytes reads at ~100 MB/s: 4 h is
# about 1.4 TB); the soft one 5 minutes before it lets the task fail its version with a reason.
# Redis hands an unacknowledged message to another worker after the visibility timeout, so it
# outlasts the hard limit (plus the retry backoff): a task still running is never delivered twice.
# A worker that died is found long before that, by its lease (GRANARY_LEASE_SECONDS).
CELERY_TASK_TIME_LIMIT = env_int("GRANARY_TASK_TIME_LIMIT", 4 * 3600, minimum=60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - min(300, CELERY_TASK_TIME_LIMIT // 10)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 600,
    "socket_connect_timeout": 5,
}
# A process that has grown past this (KiB, after a task) is replaced before it takes the next.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int("GRANARY_WORKER_MAX_MEMORY_MB", 4096, minimum=0) * 1024 or None
# A new process must say it is alive within this; ours import nothing heavy at start (the parent
# loads Great Expectations before it forks them), so Celery's 4 s suffices on a loaded machine
# with room to spare.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 20.0
# Processes per worker (`celery worker -c` overrides it); 0 is Celery's default, one per core.
# `make run` sets 1: a laptop's idle worker then holds about a third of the memory (README).
CELERY_WORKER_CONCURRENCY = env_int("GRANARY_WORKER_CONCURRENCY", 0, minimum=0)
# The worker's parent imports Great Expectations before it forks (config/celery.py), so a process
# replacing a killed one starts with it. `make run` turns it off: each process then loads it at
# its first validation (seconds, once), and an idle worker stays small.
GRANARY_WORKER_PRELOAD_GX = env_bool("GRANARY_WORKER_PRELOAD_GX", True)
# A web process loads Great Expectations beside its first request (config/wsgi.py), so no suite
# save waits for the import; `make run` turns it off, as for the worker (about 230 MB a process).
GRANARY_WEB_PRELOAD_GX = env_bool("GRANARY_WEB_PRELOAD_GX", True)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits for Redis to come back, for ever
# An upload's request waits at most ~2 s for a broker that is down: its version is committed and
# sent later by the sweeper (datasets.services.versions.versions_requeue), never lost.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.5, "interval_step": 0.5}
CELERY_TASK_ALWAYS_EAGER = False
# How long a running ingest or validation holds its row without renewing it (every third of it):
# after a worker dies, its work is sent again within this plus one sweep.
GRANARY_LEASE_SECONDS = env_int("GRANARY_LEASE_SECONDS", 90, minimum=3)
# How often Celery beat sweeps for work to send again (expired leases, sends that failed).
GRANARY_SWEEP_SECONDS = env_int("GRANARY_SWEEP_SECONDS", 60, minimum=1)

# --- Periodic tasks (Celery beat) -----------------------------------------------------------------
# Run by `celery beat`, one per deployment (`make run` embeds it in its worker with -B).
# Checkouts age out of a dataset's 90-day count with nothing else changing: recount them daily.
CELERY_BEAT_SCHEDULE = {
    "datasets-popularity-refresh": {
        "task": "datasets.tasks.popularity_refresh",
        "schedule": crontab(hour=3, minute=30),
    },
    "datasets-versions-sweep": {
        "task": "datasets.tasks.versions_sweep",
        "schedule": float(GRANARY_SWEEP_SECONDS),
        "options": {"expires": float(GRANARY_SWEEP_SECONDS)},
    },
    "quality-runs-sweep": {
        "task": "quality.tasks.runs_sweep",
        "schedule": float(GRANARY_SWEEP_SECONDS),
        "options": {"expires": float(GRANARY_SWEEP_SECONDS)},
    },
    "datasets-query-saves-sweep": {
        "task": "datasets.tasks.query_saves_sweep",
        "schedule": float(GRANARY_SWEEP_SECONDS),
        "options": {"expires": float(GRANARY_SWEEP_SECONDS)},
    },
    "webhooks-deliveries-sweep": {
        "task": "webhooks.tasks.deliveries_sweep",
        "schedule": float(GRANARY_SWEEP_SECONDS),
        "options": {"expires": float(GRANARY_SWEEP_SECONDS)},
    },
    # Working files crashed processes left in the data directory of the machine that runs it.
    "datasets-tmp-sweep": {
        "task": "datasets.tasks.tmp_sweep",
        "schedule": crontab(minute=17),
        "options": {"expires": 3600.0},
    },
    "datasets-direct-uploads-sweep": {
        "task": "datasets.tasks.direct_uploads_sweep",
        "schedule": crontab(minute=15),
    },
}
# Working files untouched this long belong to no live process (services/workfiles.py): the longest
# task is killed at its time limit; an hour more for anything slower to notice.
GRANARY_TMP_GRACE_MINUTES = env_int("GRANARY_TMP_GRACE_MINUTES", CELERY_TASK_TIME_LIMIT // 60 + 60, minimum=1)

# --- Production hardening ------------------------------------------------------------------------
# Granary is reached over HTTPS, by itself or through a TLS proxy (then say so with
# GRANARY_TRUSTED_PROXIES, or every request looks like plain http and is redirected for ever).
# So the defaults redirect http to https, send HSTS and keep cookies off plain http, and
# `manage.py check --deploy` is clean. A laptop on http://127.0.0.1 sets GRANARY_HTTPS=false
# (`make run` and the test settings do); DEBUG=true implies it.
GRANARY_HTTPS = env_bool("GRANARY_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", GRANARY_HTTPS)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", GRANARY_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS goes out on HTTPS responses only. `preload` merely consents to browsers' preload list:
# nothing is submitted, and a subdomain such as granary.example.org cannot be listed anyway.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if GRANARY_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy: scripts, styles, images and fetches from Granary's own origin only, so
# markup that slips into a page (a README, a column description) cannot run script, carry an
# event handler or load a tracking image. The portal's templates have no inline script, handler
# or style attribute (tests/config/test_content_security_policy.py checks); a page that needs an
# inline block, like the Swagger UI at /api/v1/docs/, marks it with `request.csp_nonce`, and only
# then does the header carry that request's nonce. `data:` images are Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF, CSP_NONCE],
        "style-src": [CSP_SELF, CSP_NONCE],
        "img-src": [CSP_SELF, "data:"],
        "connect-src": [CSP_SELF],
        "font-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_NONE],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    },
}

# --- Logs and metrics (README "Deployment") -------------------------------------------------------
# `json`: one JSON object a line (timestamp, level, logger, message, request_id), for a log
# shipper; `text` for people. Web and workers alike.
GRANARY_LOG_FORMAT = env_choice("GRANARY_LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logs.RequestIdFilter"}},
    "formatters": {"json": {"()": "config.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            **({"formatter": "json"} if GRANARY_LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Its import logs ~430 INFO lines ("Skipping registering function ... closure", "Multiple
        # declarations of metric ..."); its warnings and errors still show.
        "great_expectations": {"level": "WARNING"},
    },
}
# /metrics answers only `Authorization: Bearer <this>`; empty: /metrics is off (404).
GRANARY_METRICS_TOKEN = env_str("GRANARY_METRICS_TOKEN", "").strip()

# --- Audit log -----------------------------------------------------------------------------------
# Events older than this are deleted by `manage.py audit_prune` (run it daily); 0 keeps them all.
GRANARY_AUDIT_RETENTION_DAYS = env_int("GRANARY_AUDIT_RETENTION_DAYS", 365, minimum=0)

# --- Email ---------------------------------------------------------------------------------------
# Notifications (a new access request to its owners, a decision to its requester) go through
# Django's mail backend, sent by a worker: printed to the worker's console unless EMAIL_BACKEND
# names another, e.g. django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Granary <granary@localhost>")
