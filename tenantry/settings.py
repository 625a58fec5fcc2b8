"""Django settings for Tenantry, read from the environment.

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


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _persistent_secret(path: Path, make) -> str:
    """Read a secret kept in the data dir, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("TENANTRY_DATA_DIR", Path.cwd() / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = _env_bool("TENANTRY_DEBUG", False)
SECRET_KEY = os.environ.get("TENANTRY_SECRET_KEY") or _persistent_secret(
    DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(50)
)

BASE_DOMAIN = os.environ.get("TENANTRY_BASE_DOMAIN", "localhost").strip(".").lower()
# Where customers reach the dashboard: every link in an email is built from it, never from a
# request's Host header.
DASHBOARD_URL = (os.environ.get("TENANTRY_DASHBOARD_URL")
                 or f"http://127.0.0.1:{_env_int('TENANTRY_WEB_PORT', 8000)}").rstrip("/")
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
    "tenantry.edge",
    "tenantry.automations",
    "tenantry.billing",
    "tenantry.notifications",
    "tenantry.dashboard",
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
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenantry.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'tenantry.sqlite3'}",
        conn_max_age=_env_int("TENANTRY_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and CLI share one SQLite file: wait for locks instead of failing, and use
    # WAL so readers never block the writer.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
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
SESSION_COOKIE_SECURE = _env_bool("TENANTRY_SECURE_COOKIES", _HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if _HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = _env_int("TENANTRY_HSTS_SECONDS", 31536000)
    CSRF_TRUSTED_ORIGINS = [f"https://{_DASHBOARD.netloc}"]

# --- email ------------------------------------------------------------------------------------
# Console in development; SMTP as soon as a host is configured.
DEFAULT_FROM_EMAIL = os.environ.get("TENANTRY_EMAIL_FROM", "Tenantry <no-reply@localhost>")
if os.environ.get("TENANTRY_EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["TENANTRY_EMAIL_HOST"]
    EMAIL_PORT = _env_int("TENANTRY_EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.environ.get("TENANTRY_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("TENANTRY_EMAIL_PASSWORD", "")
    EMAIL_USE_TLS = _env_bool("TENANTRY_EMAIL_TLS", EMAIL_PORT == 587)
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- task queue -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY: dict = {
    "name": os.environ.get("TENANTRY_QUEUE_NAME", "tenantry"),
    "immediate": _env_bool("TENANTRY_HUEY_IMMEDIATE", False),
    "utc": True,
    "consumer": {
        "workers": _env_int("TENANTRY_WORKER_THREADS", 4),
        "worker_type": "thread",
        "periodic": True,
        # An idle consumer polls the SQLite queue with a backoff; Huey's default lets it drift
        # to 10 s between polls, which a visitor waking an instance would feel. Redis blocks on
        # the queue instead and ignores these.
        "initial_delay": 0.01,
        "backoff": 1.1,
        "max_delay": float(os.environ.get("TENANTRY_WORKER_MAX_POLL_SECONDS", "0.1")),
    },
}
if REDIS_URL:
    HUEY["huey_class"] = "huey.RedisHuey"
    HUEY["connection"] = {"url": REDIS_URL}
else:
    HUEY["huey_class"] = "huey.SqliteHuey"
    HUEY["filename"] = str(DATA_DIR / "queue.sqlite3")

# --- Tenantry ---------------------------------------------------------------------------------
TENANTRY = {
    # Labels every Docker resource, so that two installations (or a test run next to `make up`)
    # sharing one engine never touch each other's resources.
    "INSTALLATION_ID": os.environ.get("TENANTRY_INSTALLATION_ID")
    or _persistent_secret(DATA_DIR / "installation_id", lambda: secrets.token_hex(6)),
    "RESOURCE_PREFIX": os.environ.get("TENANTRY_RESOURCE_PREFIX", "tn"),
    "BASE_DOMAIN": BASE_DOMAIN,
    "PROXY_HOST": os.environ.get("TENANTRY_PROXY_HOST", "127.0.0.1"),
    "PROXY_PORT": _env_int("TENANTRY_PROXY_PORT", 8880),
    "PROXY_INTERNAL_PORT": _env_int("TENANTRY_PROXY_INTERNAL_PORT", 8881),
    "PUBLIC_SCHEME": os.environ.get("TENANTRY_PUBLIC_SCHEME", "http"),
    # The port visitors use in instance URLs; empty when the proxy sits on 80/443 behind DNS.
    "PUBLIC_PORT": os.environ.get("TENANTRY_PUBLIC_PORT", str(_env_int("TENANTRY_PROXY_PORT", 8880))),
    "WEB_HOST": os.environ.get("TENANTRY_WEB_HOST", "127.0.0.1"),
    "WEB_PORT": _env_int("TENANTRY_WEB_PORT", 8000),
    "DASHBOARD_URL": DASHBOARD_URL,
    # The edge (tenantry/edge): its own listener on loopback, reached only through the proxy,
    # which adds EDGE_SECRET to every request it forwards there. EDGE_URL overrides the address.
    "EDGE_URL": os.environ.get("TENANTRY_EDGE_URL", ""),
    "EDGE_PORT": _env_int("TENANTRY_EDGE_PORT", 8001),
    "EDGE_SECRET": os.environ.get("TENANTRY_EDGE_SECRET")
    or _persistent_secret(DATA_DIR / "edge_secret", lambda: secrets.token_urlsafe(32)),
    "EDGE_MAX_BODY_BYTES": _env_int("TENANTRY_EDGE_MAX_BODY_BYTES", 16 * 1024 * 1024),  # n8n's own default
    # Webhooks held at once while their instance wakes, per instance and in all; beyond: 503.
    "EDGE_HOLD_PER_INSTANCE": _env_int("TENANTRY_EDGE_HOLD_PER_INSTANCE", 10),
    "EDGE_HOLD_TOTAL": _env_int("TENANTRY_EDGE_HOLD_TOTAL", 100),
    "SUBNET_POOL": os.environ.get("TENANTRY_SUBNET_POOL", "172.30.0.0/16"),
    "SUBNET_PREFIX": _env_int("TENANTRY_SUBNET_PREFIX", 27),
    "HIBERNATE_AFTER_SECONDS": _env_int("TENANTRY_HIBERNATE_AFTER_SECONDS", 0),
    "OPERATION_LEASE_SECONDS": _env_int("TENANTRY_OPERATION_LEASE_SECONDS", 60),
    "STEP_MAX_ATTEMPTS": _env_int("TENANTRY_STEP_MAX_ATTEMPTS", 4),
    "STEP_RETRY_BASE_SECONDS": float(os.environ.get("TENANTRY_STEP_RETRY_BASE_SECONDS", "0.5")),
    "HEALTH_TIMEOUT_SECONDS": _env_int("TENANTRY_HEALTH_TIMEOUT_SECONDS", 120),
    # How long the edge holds a machine caller's request (a webhook) while its instance wakes.
    "EDGE_HOLD_SECONDS": _env_int("TENANTRY_EDGE_HOLD_SECONDS", 30),
    "CATALOG_DIRS": [p for p in os.environ.get("TENANTRY_CATALOG_DIRS", "").split(os.pathsep) if p],
    "TRAEFIK_DIR": Path(os.environ.get("TENANTRY_TRAEFIK_DIR", DATA_DIR / "traefik")),
    "SECRETS_KEYS": [k for k in os.environ.get("TENANTRY_SECRETS_KEYS", "").split(",") if k],
    # A file of keys outside the data directory; empty: `secrets.key` in the data directory.
    "SECRETS_KEY_FILE": os.environ.get("TENANTRY_SECRETS_KEY_FILE", ""),
    # Image names the specs use -> images to run instead, e.g. a locally built n8n:
    # TENANTRY_IMAGE_OVERRIDES='{"n8nio/n8n:2.8.4": "tenantry/n8n:2.8.4"}'
    "IMAGE_OVERRIDES": json.loads(os.environ.get("TENANTRY_IMAGE_OVERRIDES") or "{}"),
    # Automation apps whose workflows Tenantry lists and drives (app spec `automation.backend`).
    "AUTOMATION_BACKENDS": {"n8n": "tenantry.automations.backends.n8n.N8nBackend"},
}

RUNTIME_BACKENDS = {
    "default": {
        "BACKEND": "tenantry.runtime.backends.docker.DockerRuntime",
        "OPTIONS": {"base_url": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
                    # Host rules confining tenant networks (iptables; "off" for a remote engine).
                    "firewall": os.environ.get("TENANTRY_TENANT_FIREWALL", "iptables")},
    }
}

ROUTING_BACKENDS = {
    "default": {
        "BACKEND": "tenantry.routing.backends.traefik.TraefikRouting",
        "OPTIONS": {"directory": str(TENANTRY["TRAEFIK_DIR"] / "dynamic")},
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "tenantry.core.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TENANTRY_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # The consumer installs its own handler; don't print its lines twice.
        "huey": {"level": "WARNING", "propagate": False},
        "docker": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},  # one INFO line per request the edge relays
        "weasyprint": {"level": "WARNING"},  # one INFO line per rendering step of every invoice PDF
        "fontTools": {"level": "WARNING"},
    },
}

# Billing (tenantry/billing/conf.py has every key and its default). Dunning timeline in days.
TENANTRY_BILLING = {
    "SELLER": {
        "name": os.environ.get("TENANTRY_SELLER_NAME", "Tenantry"),
        "address": os.environ.get("TENANTRY_SELLER_ADDRESS", ""),
        "vat_id": os.environ.get("TENANTRY_SELLER_VAT_ID", ""),
        "email": os.environ.get("TENANTRY_SELLER_EMAIL", ""),
    },
    "RETRY_DAYS": [int(d) for d in os.environ.get("TENANTRY_DUNNING_RETRY_DAYS", "1,3,5").split(",") if d.strip()],
    "SUSPEND_AFTER_DAYS": _env_int("TENANTRY_DUNNING_SUSPEND_AFTER_DAYS", 7),
    "ARCHIVE_AFTER_DAYS": _env_int("TENANTRY_DUNNING_ARCHIVE_AFTER_DAYS", 30),
    "DELETE_AFTER_DAYS": _env_int("TENANTRY_DUNNING_DELETE_AFTER_DAYS", 90),
}

# --- payments (tenantry.billing.providers) ----------------------------------------------------
# Named payment providers, like STORAGES. Manual bank transfer and the Mobile Money gateway are
# always there (the gateway defaults to the reference one, `tenantry payment-gateway`, on
# 127.0.0.1); Stripe joins when STRIPE_SECRET_KEY is set. TENANTRY_PAYMENT_PROVIDERS (JSON)
# replaces the whole dict.
PAYMENT_GATEWAY = {
    "URL": os.environ.get("TENANTRY_GATEWAY_URL", "http://127.0.0.1:8090"),
    "API_KEY": os.environ.get("TENANTRY_GATEWAY_API_KEY")
    or _persistent_secret(DATA_DIR / "gateway_api_key", lambda: secrets.token_urlsafe(24)),
    "WEBHOOK_SECRET": os.environ.get("TENANTRY_GATEWAY_WEBHOOK_SECRET")
    or _persistent_secret(DATA_DIR / "gateway_webhook_secret", lambda: secrets.token_urlsafe(32)),
}
TENANTRY_PAYMENT_PROVIDERS: dict = json.loads(os.environ.get("TENANTRY_PAYMENT_PROVIDERS") or "{}") or {
    "manual": {
        "BACKEND": "tenantry.billing.providers.manual.ManualProvider",
        "OPTIONS": {"account_holder": os.environ.get("TENANTRY_BANK_ACCOUNT_HOLDER", ""),
                    "bank_name": os.environ.get("TENANTRY_BANK_NAME", ""),
                    "iban": os.environ.get("TENANTRY_BANK_IBAN", ""),
                    "bic": os.environ.get("TENANTRY_BANK_BIC", "")},
    },
    "gateway": {
        "BACKEND": "tenantry.billing.providers.gateway.GatewayProvider",
        "OPTIONS": {"base_url": PAYMENT_GATEWAY["URL"], "api_key": PAYMENT_GATEWAY["API_KEY"],
                    "webhook_secret": PAYMENT_GATEWAY["WEBHOOK_SECRET"]},
    },
}
if os.environ.get("STRIPE_SECRET_KEY") and "stripe" not in TENANTRY_PAYMENT_PROVIDERS:
    TENANTRY_PAYMENT_PROVIDERS["stripe"] = {
        "BACKEND": "tenantry.billing.providers.stripe.StripeProvider",
        "OPTIONS": {"api_key": os.environ["STRIPE_SECRET_KEY"],
                    "webhook_secret": os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
                    "mode": os.environ.get("TENANTRY_STRIPE_MODE", "checkout")},
    }
# Lago as the billing engine (optional): tenantry.billing.engines.lago.
LAGO_API_URL = os.environ.get("LAGO_API_URL", "")
LAGO_API_KEY = os.environ.get("LAGO_API_KEY", "")
# "jwt" (X-Lago-Signature is an RS256 JWT, checked with LAGO_PUBLIC_KEY: base64 PEM as Lago
# serves it at /api/v1/webhooks/public_key) or "hmac" (base64 HMAC-SHA256 of the body, API key).
LAGO_WEBHOOK_SIGNATURE = os.environ.get("LAGO_WEBHOOK_SIGNATURE", "jwt")
LAGO_PUBLIC_KEY = os.environ.get("LAGO_PUBLIC_KEY", "")
