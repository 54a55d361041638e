"""Settings from environment variables.

Development defaults make `manage.py` work with no variables set; debug pages stay off unless
`DJANGO_DEBUG=1` asks for them. With `DJANGO_ENV=production` the settings refuse to start without a
real secret key and allowed hosts, and turn on HTTPS-only cookies and HSTS so that
`manage.py check --deploy` is clean.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: expected true/false, 1/0, yes/no or on/off")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected an integer") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r}: must be >= {minimum}")
    return number


def env_float(name: str, default: float, minimum: float = 0.0, maximum: float = 1.0) -> float:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a number") from None
    if not minimum <= number <= maximum:
        raise ImproperlyConfigured(f"{name}={value!r}: must be in [{minimum}, {maximum}]")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, object]:
    """Parse `sqlite:///PATH` (relative to the project) or `postgres://user:pass@host:port/name`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if not path:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r}: sqlite URL needs a path")
        name = path if path == ":memory:" else str(BASE_DIR / path)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            # WAL lets readers run beside the one writer; the IMMEDIATE transactions and timeout
            # make concurrent writers queue instead of failing with "database is locked".
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"
                ),
            },
        }
    if parsed.scheme in ("postgres", "postgresql"):
        if not parsed.hostname or len(parsed.path) < 2:
            raise ImproperlyConfigured(
                f"DATABASE_URL={url!r}: expected postgres://user:pass@host:port/name"
            )
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path[1:]),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname,
            "PORT": str(parsed.port or 5432),
            "OPTIONS": options,
            "CONN_MAX_AGE": 60,
        }
    raise ImproperlyConfigured(f"DATABASE_URL={url!r}: scheme must be sqlite or postgres")


DJANGO_ENV = env_str("DJANGO_ENV", "development")
if DJANGO_ENV not in ("development", "production", "test"):
    raise ImproperlyConfigured(
        f"DJANGO_ENV={DJANGO_ENV!r}: expected development, production or test"
    )
PRODUCTION = DJANGO_ENV == "production"

DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "" if PRODUCTION else DEV_SECRET_KEY)
# scripts/run keeps a generated key in a file (var/secret_key), so it never sits in the environment.
SECRET_KEY_FILE = env_str("DJANGO_SECRET_KEY_FILE", "")
if SECRET_KEY_FILE:
    try:
        SECRET_KEY = Path(SECRET_KEY_FILE).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ImproperlyConfigured(f"DJANGO_SECRET_KEY_FILE={SECRET_KEY_FILE!r}: {error}") from None
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY == DEV_SECRET_KEY):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to a random string of 50+ characters")

# Off unless asked for: a debug page shows settings and URL patterns to whoever triggers it.
DEBUG = env_bool("DJANGO_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production")

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the host names in production")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: `runserver` serves static files through whitenoise, as gunicorn does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "annotator",
]

MIDDLEWARE = [
    # First, so that its header reaches every response, those of errors raised further in too.
    "webapp.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it answers a locked-out login with the lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: after AXES_FAILURE_LIMIT failed logins for one user name from one address,
# that pair is locked out for AXES_COOLOFF_MINUTES (a 429 with the lockout page).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = AXES_COOLOFF_MINUTES / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# No inline script or style anywhere (admin and API docs included): every page loads its code
# and styles as files from this origin. Swagger UI and the admin draw SVG icons from data: URLs.
CONTENT_SECURITY_POLICY = env_str(
    "DJANGO_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"

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

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", "sqlite:///db.sqlite3"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that the Celery worker processes the tests start see the same data.
    test_database = env_str("TEST_DATABASE_PATH", str(BASE_DIR / "var" / "test-db.sqlite3"))
    DATABASES["default"]["TEST"] = {"NAME": test_database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
# Outside production whitenoise also serves straight from the source folders, so static files
# work with debug off before (or without) collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))

# Media on the local disk by default (a volume shared by web and workers); S3-compatible storage
# when a bucket is configured, so GPU workers on other machines see the same files.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None},
    }

# Uploads: small files in memory, larger ones stream to a temporary file; videos are capped.
MAX_VIDEO_UPLOAD_BYTES = env_int("MAX_VIDEO_UPLOAD_BYTES", 4 * 1024**3, minimum=1)
MAX_IMPORT_UPLOAD_BYTES = env_int("MAX_IMPORT_UPLOAD_BYTES", 512 * 1024**2, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

# Jobs: a worker holds a job for JOB_LEASE_SECONDS and renews the lease every
# JOB_HEARTBEAT_SECONDS; a sweep every JOB_SWEEP_SECONDS re-queues jobs whose lease expired.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 120, minimum=1)
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 30, minimum=1)
JOB_SWEEP_SECONDS = env_int("JOB_SWEEP_SECONDS", 60, minimum=1)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3, minimum=1)
JOB_SOFT_TIME_LIMIT_SECONDS = env_int("JOB_SOFT_TIME_LIMIT_SECONDS", 6 * 3600, minimum=1)
JOB_TIME_LIMIT_SECONDS = env_int("JOB_TIME_LIMIT_SECONDS", 6 * 3600 + 300, minimum=1)
# Training jobs (gpu queue) run long: they have their own limits, days by default. Loader workers
# decode clips in parallel; a mid-epoch checkpoint every TRAIN_CHECKPOINT_EVERY steps (0: after
# each epoch only) is where a lost worker's job resumes and what a cancelled one keeps.
TRAIN_SOFT_TIME_LIMIT_SECONDS = env_int("TRAIN_SOFT_TIME_LIMIT_SECONDS", 3 * 24 * 3600, minimum=1)
TRAIN_TIME_LIMIT_SECONDS = env_int("TRAIN_TIME_LIMIT_SECONDS", 3 * 24 * 3600 + 600, minimum=1)
TRAIN_LOADER_WORKERS = env_int("TRAIN_LOADER_WORKERS", 2)
TRAIN_CHECKPOINT_EVERY = env_int("TRAIN_CHECKPOINT_EVERY", 500)
# Tests only: a folder through which a test holds a worker's job at a progress report of its
# choosing (annotator.services.jobs.progress_gate); empty, the default, turns it off.
JOB_PROGRESS_GATE = env_str("JOB_PROGRESS_GATE", "")
# Redis re-delivers an unacknowledged task after this many seconds (acks_late tasks).
CELERY_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=1)

# Review: a reviewer who takes a keyframe holds it this long; the open page renews the lease.
REVIEW_LEASE_SECONDS = env_int("REVIEW_LEASE_SECONDS", 300, minimum=1)

# Pre-annotation (annotator.services.preannotate): keyframes per written batch, the score from
# which a model's label is shown as a suggestion, and the device ("" picks CUDA when present).
PREANNOTATE_BATCH_SIZE = env_int("PREANNOTATE_BATCH_SIZE", 8, minimum=1)
PREANNOTATE_DISPLAY_FLOOR = env_float("PREANNOTATE_DISPLAY_FLOOR", 0.2)
INFERENCE_DEVICE = env_str("INFERENCE_DEVICE", "")
# Person detector: a torchvision Faster R-CNN whose COCO weights are a local file (or in
# torchvision's cache); MIN_SIZE 0 keeps the builder's input size.
PERSON_DETECTOR_ARCH = env_str("PERSON_DETECTOR_ARCH", "fasterrcnn_resnet50_fpn")
PERSON_DETECTOR_WEIGHTS = env_str("PERSON_DETECTOR_WEIGHTS", "")
PERSON_DETECTOR_THRESHOLD = env_float("PERSON_DETECTOR_THRESHOLD", 0.8)
PERSON_DETECTOR_MIN_SIZE = env_int("PERSON_DETECTOR_MIN_SIZE", 0)
PERSON_DETECTOR_MAX_BOXES = env_int("PERSON_DETECTOR_MAX_BOXES", 50, minimum=1)

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = JOB_SOFT_TIME_LIMIT_SECONDS
CELERY_TASK_TIME_LIMIT = JOB_TIME_LIMIT_SECONDS
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {"task": "annotator.tasks.jobs_sweep_task", "schedule": float(JOB_SWEEP_SECONDS)},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "annotator.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotator.api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": [],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AVA annotator API",
    "DESCRIPTION": "Build and curate AVA-style spatio-temporal action datasets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "annotator.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "KeyframeStatusEnum": "annotator.models.Keyframe.Status",
        "VideoStatusEnum": "annotator.models.Video.Status",
        "JobStatusEnum": "annotator.models.Job.Status",
        "ModelVersionStatusEnum": "annotator.models.ModelVersion.Status",
        "StateEnum": "annotator.models.State",
        "SourceEnum": "annotator.models.Source",
    },
}

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
