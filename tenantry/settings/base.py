"""Django's own settings for Tenantry (site, accounts, email, queue), read from the environment.

Everything a deployment changes is an environment variable; the defaults run the product on
one laptop: SQLite and the SQLite task queue under the data directory, the local Docker engine,
a local Traefik bound to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from tenantry.settings.env import env_bool, env_int, persistent_secret

BASE_DIR = Path(__file__).resolve().parent.parent  # the tenantry package
DATA_DIR = Path(os.environ.get("TENANTRY_DATA_DIR", Path.cwd() / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("TENANTRY_DEBUG", False)
SECRET_KEY = os.environ.get("TENANTRY_SECRET_KEY") or persistent_secret(
    DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(50)
)

BASE_DOMAIN = os.environ.get("TENANTRY_BASE_DOMAIN", "localhost").strip(".").lower()
# Where customers reach the dashboard: every link in an email is built from it, never from a
# request's Host header.
DASHBOARD_URL = (os.environ.get("TENANTRY_DASHBOARD_URL")
                 or f"http://127.0.0.1:{env_int('TENANTRY_WEB_PORT', 8000)}").rstrip("/")
_DASHBOARD = urlsplit(DASHBOARD_URL)
# The control plane's own hosts only: tenant addresses (`<slug>.<base domain>`) never reach this
# process (the proxy sends them to the apps or to the edge, its own listener), and a request that
# names one anyway is refused (400) before any session, CSRF or view code runs.
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("TENANTRY_ALLOWED_HOSTS", "").split(",") if h.strip()] + [
    _DASHBOARD.hostname or "127.0.0.1", "localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "tenantry.core",
    "tenantry.accounts",
    "tenantry.catalog",
    "tenantry.runtime",
    "tenantry.routing",
    "tenantry.instances",
    "tenantry.backups",
    "tenantry.edge",
    "tenantry.automations",
    # The SEO pipeline's published articles and their weekly limit (issue 13 item 5).
    "tenantry.articles",
    "tenantry.billing",
    "tenantry.metering",
    "tenantry.events",
    "tenantry.notifications",
    "tenantry.webhooks",
    "tenantry.support",
    "tenantry.privacy",
    "tenantry.dashboard",
    "tenantry.ops",
    # Updates you can undo: rollouts of app versions, maintenance windows (issue 11 item 6).
    "tenantry.updates",
    # White label: the operator's brand on every surface (issue 14 item 7).
    "tenantry.branding",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# --- accounts (django-allauth) ------------------------------------------------------------------
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# The billing adapter extends the accounts one: signup ends with the plan choice when plans are on sale.
ACCOUNT_ADAPTER = "tenantry.billing.signup_adapter.BillingAccountAdapter"
SOCIALACCOUNT_ADAPTER = "tenantry.accounts.adapter.SocialAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Tenantry] "
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Tenantry"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_LOGIN_ON_GET = False
# Single sign-on: a JSON list of OpenID Connect providers, e.g. a Keycloak realm:
# TENANTRY_OIDC_PROVIDERS='[{"id": "keycloak", "name": "Keycloak", "client_id": "tenantry",
#   "secret": "…", "server_url": "https://sso.example.com/realms/acme"}]'
# Optional social providers, e.g.
# TENANTRY_SOCIAL_PROVIDERS='{"google": {"client_id": "…", "secret": "…"}, "github": {…}, "microsoft": {…}}'
_SOCIAL = json.loads(os.environ.get("TENANTRY_SOCIAL_PROVIDERS") or "{}")
_SOCIAL_SUPPORTED = {"google", "github", "microsoft"}
if set(_SOCIAL) - _SOCIAL_SUPPORTED:
    raise ValueError(f"TENANTRY_SOCIAL_PROVIDERS: unsupported {sorted(set(_SOCIAL) - _SOCIAL_SUPPORTED)}")
INSTALLED_APPS += [f"allauth.socialaccount.providers.{name}" for name in sorted(_SOCIAL)]
SOCIALACCOUNT_PROVIDERS: dict = {
    name: {"APPS": [{"client_id": conf["client_id"], "secret": conf.get("secret", ""),
                     "settings": conf.get("settings", {})}]}
    for name, conf in _SOCIAL.items()
}
SOCIALACCOUNT_PROVIDERS |= {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {"provider_id": p["id"], "name": p.get("name", p["id"]), "client_id": p["client_id"],
             "secret": p.get("secret", ""), "settings": {"server_url": p["server_url"]}}
            for p in json.loads(os.environ.get("TENANTRY_OIDC_PROVIDERS") or "[]")
        ],
    }
}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise: static files are neither logged nor given a request id.
    "tenantry.core.logging.RequestLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenantry.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    # --- audit: binds the request (IP, user agent, actor) for audit_log; audits unrecorded writes ---
    "tenantry.core.audit.AuditContextMiddleware",
    "tenantry.api.ratelimit.ApiRateLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tenantry.urls"
WSGI_APPLICATION = "tenantry.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenantry.metering.context.usage_banner",
                "tenantry.notifications.context.unread_notifications",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'tenantry.sqlite3'}",
        conn_max_age=env_int("TENANTRY_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and CLI share one SQLite file: wait for locks instead of failing, and use
    # WAL so readers never block the writer. Connections are kept, as on PostgreSQL: opening
    # one reads the whole schema (1.3 ms on this machine, more under load), which every API
    # request, every status read of the edge and every queue task paid before its first query;
    # an idle connection holds no lock in WAL mode.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run the worker in a subprocess: the test database must be a file it can open.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
LOCALE_PATHS = [BASE_DIR / "locale"]
CSRF_COOKIE_HTTPONLY = True
# Behind HTTPS (the dashboard URL says so): cookies never travel in clear, browsers remember to
# use HTTPS, and the TLS-terminating proxy's X-Forwarded-Proto says the request was secure. The
# control plane listens on 127.0.0.1 only, so that header can only come from the proxy (which
# overwrites what clients send). No includeSubDomains: tenants' addresses choose for themselves.
_HTTPS = _DASHBOARD.scheme == "https"
SESSION_COOKIE_SECURE = env_bool("TENANTRY_SECURE_COOKIES", _HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if _HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("TENANTRY_HSTS_SECONDS", 31536000)
    CSRF_TRUSTED_ORIGINS = [f"https://{_DASHBOARD.netloc}"]

# --- email ------------------------------------------------------------------------------------
# Console in development; SMTP as soon as a host is configured.
DEFAULT_FROM_EMAIL = os.environ.get("TENANTRY_EMAIL_FROM", "Tenantry <no-reply@localhost>")
if os.environ.get("TENANTRY_EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["TENANTRY_EMAIL_HOST"]
    EMAIL_PORT = env_int("TENANTRY_EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.environ.get("TENANTRY_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("TENANTRY_EMAIL_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("TENANTRY_EMAIL_TLS", EMAIL_PORT == 587)
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- task queue -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY: dict = {
    "name": os.environ.get("TENANTRY_QUEUE_NAME", "tenantry"),
    "immediate": env_bool("TENANTRY_HUEY_IMMEDIATE", False),
    "utc": True,
    "consumer": {
        "workers": env_int("TENANTRY_WORKER_THREADS", 4),
        "worker_type": "thread",
        "periodic": True,
        # An idle consumer polls the SQLite queue with a backoff; Huey's default lets it drift
        # to 10 s between polls, which a visitor waking an instance would feel. Enqueueing also
        # rings the consumers' doorbell (tenantry.core.queue), so the poll is only the fallback.
        # Redis blocks on the queue instead and ignores these.
        "initial_delay": 0.01,
        "backoff": 1.1,
        "max_delay": float(os.environ.get("TENANTRY_WORKER_MAX_POLL_SECONDS", "0.1")),
    },
}
if REDIS_URL:
    HUEY["huey_class"] = "huey.RedisHuey"
    HUEY["connection"] = {"url": REDIS_URL}
else:
    HUEY["huey_class"] = "tenantry.core.queue.DoorbellSqliteHuey"
    HUEY["filename"] = str(DATA_DIR / "queue.sqlite3")

