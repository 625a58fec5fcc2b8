"""Tenantry's own settings: the platform (ports, edge, domains), backends, logging, billing and
payments. Read from the environment like the rest (tenantry/settings/base.py)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from tenantry.settings.base import BASE_DOMAIN, DASHBOARD_URL, DATA_DIR
from tenantry.settings.env import env_bool, env_int, persistent_secret

# --- TLS (docs/tls-and-domains.md) ------------------------------------------------------------
# Setting TENANTRY_ACME_CA (staging, production or a directory URL) turns TLS on: Traefik gets
# an https entry point, certificates from that CA, HTTP -> HTTPS redirects and HSTS, and
# instance URLs become https. Start with staging; switch to production once staging works.
_ACME_CA = os.environ.get("TENANTRY_ACME_CA", "").strip()
_PROXY_HTTPS_PORT = env_int("TENANTRY_PROXY_HTTPS_PORT", 8443)
TLS = {
    "https_address": f"{os.environ.get('TENANTRY_PROXY_HOST', '127.0.0.1')}:{_PROXY_HTTPS_PORT}",
    "email": os.environ.get("TENANTRY_ACME_EMAIL", ""),
    "ca": _ACME_CA,
    "challenge": os.environ.get("TENANTRY_ACME_CHALLENGE", "http"),
    # A lego DNS provider (scaleway, ovh, cloudflare, …); its credentials go in Traefik's
    # environment under lego's names (SCW_API_TOKEN, OVH_APPLICATION_KEY, CF_DNS_API_TOKEN, …).
    "dns_provider": os.environ.get("TENANTRY_ACME_DNS_PROVIDER", ""),
    "dns_resolvers": tuple(r.strip() for r in os.environ.get("TENANTRY_ACME_DNS_RESOLVERS", "").split(",")
                           if r.strip()),
    "dns_propagation_check": env_bool("TENANTRY_ACME_DNS_PROPAGATION_CHECK", True),
    "hsts_seconds": env_int("TENANTRY_HSTS_SECONDS", 31536000),
} if _ACME_CA else None
_DEFAULT_SCHEME = "https" if TLS else "http"

# --- Tenantry ---------------------------------------------------------------------------------
TENANTRY = {
    # Labels every Docker resource, so that two installations (or a test run next to `make up`)
    # sharing one engine never touch each other's resources.
    "INSTALLATION_ID": os.environ.get("TENANTRY_INSTALLATION_ID")
    or persistent_secret(DATA_DIR / "installation_id", lambda: secrets.token_hex(6)),
    "RESOURCE_PREFIX": os.environ.get("TENANTRY_RESOURCE_PREFIX", "tn"),
    "BASE_DOMAIN": BASE_DOMAIN,
    "PROXY_HOST": os.environ.get("TENANTRY_PROXY_HOST", "127.0.0.1"),
    "PROXY_PORT": env_int("TENANTRY_PROXY_PORT", 8880),
    "PROXY_INTERNAL_PORT": env_int("TENANTRY_PROXY_INTERNAL_PORT", 8881),
    "PROXY_HTTPS_PORT": _PROXY_HTTPS_PORT,
    "TLS": TLS,
    "PUBLIC_SCHEME": os.environ.get("TENANTRY_PUBLIC_SCHEME", _DEFAULT_SCHEME),
    # The port visitors use in instance URLs; empty when the proxy sits on 80/443 behind DNS.
    "PUBLIC_PORT": os.environ.get("TENANTRY_PUBLIC_PORT", str(
        _PROXY_HTTPS_PORT if _DEFAULT_SCHEME == "https" else env_int("TENANTRY_PROXY_PORT", 8880))),
    # DNS servers that verify customers' domains ("host[:port]", comma-separated; empty: the system's).
    "DNS_RESOLVER": os.environ.get("TENANTRY_DNS_RESOLVER", ""),
    "WEB_HOST": os.environ.get("TENANTRY_WEB_HOST", "127.0.0.1"),
    "WEB_PORT": env_int("TENANTRY_WEB_PORT", 8000),
    "DASHBOARD_URL": DASHBOARD_URL,
    # The edge (tenantry/edge): its own listener on loopback, reached only through the proxy,
    # which adds EDGE_SECRET to every request it forwards there. EDGE_URL overrides the address.
    "EDGE_URL": os.environ.get("TENANTRY_EDGE_URL", ""),
    "EDGE_PORT": env_int("TENANTRY_EDGE_PORT", 8001),
    "EDGE_SECRET": os.environ.get("TENANTRY_EDGE_SECRET")
    or persistent_secret(DATA_DIR / "edge_secret", lambda: secrets.token_urlsafe(32)),
    "EDGE_MAX_BODY_BYTES": env_int("TENANTRY_EDGE_MAX_BODY_BYTES", 16 * 1024 * 1024),  # n8n's own default
    # Webhooks held at once while their instance wakes, per instance and in all; beyond: 503.
    "EDGE_HOLD_PER_INSTANCE": env_int("TENANTRY_EDGE_HOLD_PER_INSTANCE", 10),
    "EDGE_HOLD_TOTAL": env_int("TENANTRY_EDGE_HOLD_TOTAL", 100),
    "SUBNET_POOL": os.environ.get("TENANTRY_SUBNET_POOL", "172.30.0.0/16"),
    "SUBNET_PREFIX": env_int("TENANTRY_SUBNET_PREFIX", 27),
    "HIBERNATE_AFTER_SECONDS": env_int("TENANTRY_HIBERNATE_AFTER_SECONDS", 0),
    # Scheduled workflows (automations/scheduling.py): wake a hibernated instance this long
    # before its next scheduled run (n8n needs ~30-60 s to start here).
    "SCHEDULE_WAKE_LEAD_SECONDS": env_int("TENANTRY_SCHEDULE_WAKE_LEAD_SECONDS", 180),
    "OPERATION_LEASE_SECONDS": env_int("TENANTRY_OPERATION_LEASE_SECONDS", 60),
    # Resources of an instance the database does not know (after a control-plane restore: the
    # instances created since the backup) are marked and kept this long before the reconciler
    # removes them (docs/disaster-recovery.md).
    "ORPHAN_GRACE_DAYS": float(os.environ.get("TENANTRY_ORPHAN_GRACE_DAYS", "7")),
    "STEP_MAX_ATTEMPTS": env_int("TENANTRY_STEP_MAX_ATTEMPTS", 4),
    "STEP_RETRY_BASE_SECONDS": float(os.environ.get("TENANTRY_STEP_RETRY_BASE_SECONDS", "0.5")),
    "HEALTH_TIMEOUT_SECONDS": env_int("TENANTRY_HEALTH_TIMEOUT_SECONDS", 120),
    # How long the edge holds a machine caller's request (a webhook) while its instance wakes or is set up.
    "EDGE_HOLD_SECONDS": env_int("TENANTRY_EDGE_HOLD_SECONDS", 30),
    "CATALOG_DIRS": [p for p in os.environ.get("TENANTRY_CATALOG_DIRS", "").split(os.pathsep) if p],
    "TRAEFIK_DIR": Path(os.environ.get("TENANTRY_TRAEFIK_DIR", DATA_DIR / "traefik")),
    # Which proxy routes instances: "traefik" (file provider; TLS/ACME, rate limits, traffic
    # metering) or "caddy" (admin API: one request applies one route; plain HTTP only, no rate
    # limits; tenantry/routing/backends/caddy.py). `tenantry up` starts the one chosen.
    "ROUTING": os.environ.get("TENANTRY_ROUTING", "traefik").strip().lower() or "traefik",
    "CADDY_DIR": Path(os.environ.get("TENANTRY_CADDY_DIR", DATA_DIR / "caddy")),
    "SECRETS_KEYS": [k for k in os.environ.get("TENANTRY_SECRETS_KEYS", "").split(",") if k],
    # A file of keys outside the data directory; empty: `secrets.key` in the data directory.
    "SECRETS_KEY_FILE": os.environ.get("TENANTRY_SECRETS_KEY_FILE", ""),
    # The helper container that reads and writes volumes for backups: any image with /bin/sh and
    # rm (busybox); the locally built hello image by default, since no registry is reachable here.
    "BACKUP_HELPER_IMAGE": os.environ.get("TENANTRY_BACKUP_HELPER_IMAGE", "tenantry/hello:1"),
    # Where new backups go: an alias of BACKUP_TARGETS.
    "BACKUP_TARGET": os.environ.get("TENANTRY_BACKUP_TARGET", "s3" if os.environ.get("TENANTRY_BACKUP_S3_BUCKET")
                                    else "local"),
    # --- backup policies (tenantry/backups/policy.py) ---
    # Where a team's backups go when BACKUP_TARGET is off-site and its plan does not include that.
    "BACKUP_LOCAL_TARGET": os.environ.get("TENANTRY_BACKUP_LOCAL_TARGET", "local"),
    # Scheduled backups started per run of the scheduler (every 15 minutes); 0: no limit.
    "BACKUP_SCHEDULE_MAX_PER_RUN": env_int("TENANTRY_BACKUP_SCHEDULE_MAX_PER_RUN", 25),
    # How long the final backup of a deleted instance is kept (archived ones: until deleted).
    "BACKUP_FINAL_KEEP_DAYS": int(os.environ.get("TENANTRY_BACKUP_FINAL_KEEP_DAYS", "30")),
    # Whether deleting an instance first takes its final backup (a plan's
    # `final_backup_on_delete` wins when set). Off, a deletion removes the data at once: ~3x
    # faster, nothing to restore afterwards. Archiving (dunning) always takes one.
    "BACKUP_FINAL_ON_DELETE": env_bool("TENANTRY_BACKUP_FINAL_ON_DELETE", True),
    # --- end backup policies ---
    # Image names the specs use -> images to run instead, e.g. a locally built n8n:
    # TENANTRY_IMAGE_OVERRIDES='{"n8nio/n8n:2.8.4": "tenantry/n8n:2.8.4"}'
    "IMAGE_OVERRIDES": json.loads(os.environ.get("TENANTRY_IMAGE_OVERRIDES") or "{}"),
    # Automation apps whose workflows Tenantry lists and drives (app spec `automation.backend`).
    # Bearer token for `/metrics` from elsewhere than loopback (Prometheus on another host).
    "METRICS_TOKEN": os.environ.get("TENANTRY_METRICS_TOKEN", ""),
    "AUTOMATION_BACKENDS": {"n8n": "tenantry.automations.backends.n8n.N8nBackend"},
    # Metering (tenantry/metering): how late and how early (clock skew) an API usage event may be.
    "METERING_MAX_EVENT_AGE_DAYS": env_int("TENANTRY_METERING_MAX_EVENT_AGE_DAYS", 35),
    "METERING_MAX_CLOCK_SKEW_SECONDS": env_int("TENANTRY_METERING_MAX_CLOCK_SKEW_SECONDS", 300),
    # Where the collectors read Traefik's Prometheus metrics; empty: the proxy's internal port.
    "METERING_TRAEFIK_METRICS_URL": os.environ.get("TENANTRY_METERING_TRAEFIK_METRICS_URL", ""),
    # Host path of the cgroup filesystem the CPU/memory collector reads (the Docker host's).
    "METERING_CGROUP_ROOT": os.environ.get("TENANTRY_METERING_CGROUP_ROOT", "/sys/fs/cgroup"),
    # The control plane's own backup (tenantry/backups/control_plane.py, `tenantry backup`): the
    # Fernet key that encrypts it (kept apart from this machine; empty: no scheduled backup), how
    # many are kept, and when the worker takes one (cron: minute hour day month weekday, UTC).
    "CONTROL_BACKUP_KEY": os.environ.get("TENANTRY_CONTROL_BACKUP_KEY", ""),
    "CONTROL_BACKUP_KEEP": env_int("TENANTRY_CONTROL_BACKUP_KEEP", 14),
    "CONTROL_BACKUP_CRON": os.environ.get("TENANTRY_CONTROL_BACKUP_CRON", "15 3 * * *"),
}

# --- audit, privacy and API limits (tenantry/core/audit.py, tenantry/privacy, tenantry/api/ratelimit.py) ---
TENANTRY.update({
    # Audit rows older than this lose who and from where (IP, user agent, user, field values).
    "AUDIT_RETENTION_DAYS": env_int("TENANTRY_AUDIT_RETENTION_DAYS", 90),
    # A deleted team's backups (and what remains of its data) are purged after this many days:
    # the backup retention, during which the operator can still restore a mistaken deletion.
    "TEAM_DELETION_GRACE_DAYS": env_int("TENANTRY_TEAM_DELETION_GRACE_DAYS", 30),
    # API requests a minute per API key; the plan's `api_requests_per_minute` wins when set.
    "API_RATE_LIMIT_PER_MINUTE": env_int("TENANTRY_API_RATE_LIMIT_PER_MINUTE", 100),
    # Every API request from one address, keyed or not (floods, key guessing); 0 turns a limit off.
    "API_RATE_LIMIT_PER_IP_PER_MINUTE": env_int("TENANTRY_API_RATE_LIMIT_PER_IP_PER_MINUTE", 100),
    "API_RATE_LIMIT_WINDOW_SECONDS": env_int("TENANTRY_API_RATE_LIMIT_WINDOW_SECONDS", 60),
    # Where the counters live: "redis" (REDIS_URL, shared by every process) or "database".
    "API_RATE_LIMIT_STORE": os.environ.get("TENANTRY_API_RATE_LIMIT_STORE",
                                           "redis" if os.environ.get("REDIS_URL") else "database"),
})

# Backup targets (tenantry/backups/targets): a local directory, and any S3 when a bucket is set.
BACKUP_TARGETS: dict[str, dict] = {
    "local": {"BACKEND": "tenantry.backups.targets.local.LocalTarget",
              "OPTIONS": {"directory": os.environ.get("TENANTRY_BACKUP_DIR", str(DATA_DIR / "backups"))}},
}
if os.environ.get("TENANTRY_BACKUP_S3_BUCKET"):
    BACKUP_TARGETS["s3"] = {
        "BACKEND": "tenantry.backups.targets.s3.S3Target",
        "OPTIONS": {"bucket": os.environ["TENANTRY_BACKUP_S3_BUCKET"],
                    "prefix": os.environ.get("TENANTRY_BACKUP_S3_PREFIX", "tenantry/"),
                    "endpoint_url": os.environ.get("TENANTRY_BACKUP_S3_ENDPOINT") or None,
                    "region": os.environ.get("TENANTRY_BACKUP_S3_REGION") or None,
                    "access_key": os.environ.get("TENANTRY_BACKUP_S3_ACCESS_KEY") or None,
                    "secret_key": os.environ.get("TENANTRY_BACKUP_S3_SECRET_KEY") or None},
    }

RUNTIME_BACKENDS = {
    "default": {
        "BACKEND": "tenantry.runtime.backends.docker.DockerRuntime",
        "OPTIONS": {"base_url": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
                    # Host rules confining tenant networks (iptables; "off" for a remote engine).
                    "firewall": os.environ.get("TENANTRY_TENANT_FIREWALL", "iptables"),
                    # How a restore writes a volume: a FIFO shared with a local engine (pipe), the
                    # engine's attach socket (attach), or the pipe when it works (auto). The pipe's
                    # directory defaults to <data>/volume-pipes; _ON_ENGINE: its path as the engine
                    # sees it, when the control plane runs in a container.
                    "volume_transfer": os.environ.get("TENANTRY_VOLUME_TRANSFER", "auto"),
                    "pipe_dir": os.environ.get("TENANTRY_VOLUME_PIPE_DIR") or None,
                    "pipe_dir_on_engine": os.environ.get("TENANTRY_VOLUME_PIPE_DIR_ON_ENGINE") or None},
    }
}

_ROUTING_CHOICES: dict[str, dict[str, Any]] = {
    "traefik": {
        "BACKEND": "tenantry.routing.backends.traefik.TraefikRouting",
        "OPTIONS": {"directory": str(TENANTRY["TRAEFIK_DIR"] / "dynamic")},
    },
    # Its admin API on 127.0.0.1:PROXY_INTERNAL_PORT (the backend's default).
    "caddy": {"BACKEND": "tenantry.routing.backends.caddy.CaddyRouting", "OPTIONS": {}},
}
if TENANTRY["ROUTING"] not in _ROUTING_CHOICES:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"TENANTRY_ROUTING={TENANTRY['ROUTING']!r}: choose one of {', '.join(_ROUTING_CHOICES)}")
ROUTING_BACKENDS = {"default": _ROUTING_CHOICES[TENANTRY["ROUTING"]]}

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
        "name": os.environ.get("TENANTRY_SELLER_NAME", ""),  # empty: the brand's name
        "address": os.environ.get("TENANTRY_SELLER_ADDRESS", ""),
        "vat_id": os.environ.get("TENANTRY_SELLER_VAT_ID", ""),
        "email": os.environ.get("TENANTRY_SELLER_EMAIL", ""),
    },
    "RETRY_DAYS": [int(d) for d in os.environ.get("TENANTRY_DUNNING_RETRY_DAYS", "1,3,5").split(",") if d.strip()],
    "SUSPEND_AFTER_DAYS": env_int("TENANTRY_DUNNING_SUSPEND_AFTER_DAYS", 7),
    "ARCHIVE_AFTER_DAYS": env_int("TENANTRY_DUNNING_ARCHIVE_AFTER_DAYS", 30),
    "DELETE_AFTER_DAYS": env_int("TENANTRY_DUNNING_DELETE_AFTER_DAYS", 90),
}

# --- payments (tenantry.billing.providers) ----------------------------------------------------
# Named payment providers, like STORAGES. Manual bank transfer and the Mobile Money gateway are
# always there (the gateway defaults to the reference one, `tenantry payment-gateway`, on
# 127.0.0.1); Stripe joins when STRIPE_SECRET_KEY is set. TENANTRY_PAYMENT_PROVIDERS (JSON)
# replaces the whole dict.
PAYMENT_GATEWAY = {
    "URL": os.environ.get("TENANTRY_GATEWAY_URL", "http://127.0.0.1:8090"),
    "API_KEY": os.environ.get("TENANTRY_GATEWAY_API_KEY")
    or persistent_secret(DATA_DIR / "gateway_api_key", lambda: secrets.token_urlsafe(24)),
    "WEBHOOK_SECRET": os.environ.get("TENANTRY_GATEWAY_WEBHOOK_SECRET")
    or persistent_secret(DATA_DIR / "gateway_webhook_secret", lambda: secrets.token_urlsafe(32)),
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

# --- outbound webhooks (tenantry.webhooks) ------------------------------------------------------
# Deliveries go only to public addresses unless ALLOW_PRIVATE (an installation whose customers'
# receivers live on its own private network, or tests). Retries: the delays between attempts in
# seconds (the last one repeats) for RETRY_FOR_SECONDS after the first attempt (3 days), then
# the endpoint is disabled and its team told.
TENANTRY_WEBHOOKS = {
    "ALLOW_PRIVATE": env_bool("TENANTRY_WEBHOOKS_ALLOW_PRIVATE", False),
    "TIMEOUT_SECONDS": float(os.environ.get("TENANTRY_WEBHOOKS_TIMEOUT_SECONDS", "10")),
    "RETRY_SCHEDULE": [float(s) for s in os.environ.get(
        "TENANTRY_WEBHOOKS_RETRY_SCHEDULE", "5,60,300,1800,7200,18000,36000,43200").split(",") if s.strip()],
    "RETRY_FOR_SECONDS": float(os.environ.get("TENANTRY_WEBHOOKS_RETRY_FOR_SECONDS", str(3 * 24 * 3600))),
}

# --- notifications (tenantry.notifications) -----------------------------------------------------
# Operator alerts (a provisioning that failed after payment, an instance or backup failure) go to
# staff users by email and, when set, to a Slack-compatible incoming webhook (Slack, Mattermost,
# Rocket.Chat, Discord's /slack endpoint).
TENANTRY_NOTIFICATIONS = {
    "OPERATOR_SLACK_WEBHOOK_URL": os.environ.get("TENANTRY_OPERATOR_SLACK_WEBHOOK_URL", ""),
}

# --- support tickets (tenantry.support) ---------------------------------------------------------
# Service levels in minutes for plans without their own (admin: Support, Plan SLAs); plans with
# priority support get the PRIORITY ones. Attachments: size per file, files per message, types
# (by extension; images and PDFs must also look like one). Replies by email come back to
# `support+<signed ticket token>@INBOUND_DOMAIN`, through Tenantry's own SMTP server
# (`tenantry support-smtp`, started by `tenantry up`) or a provider's inbound webhook
# (POST /webhooks/support/inbound, Mailgun's signature scheme, off until a key is set).
TENANTRY_SUPPORT: dict[str, Any] = {
    "SLA_FIRST_RESPONSE_MINUTES": env_int("TENANTRY_SUPPORT_SLA_FIRST_RESPONSE_MINUTES", 24 * 60),
    "SLA_RESOLUTION_MINUTES": env_int("TENANTRY_SUPPORT_SLA_RESOLUTION_MINUTES", 5 * 24 * 60),
    "PRIORITY_SLA_FIRST_RESPONSE_MINUTES": env_int("TENANTRY_SUPPORT_PRIORITY_SLA_FIRST_RESPONSE_MINUTES", 4 * 60),
    "PRIORITY_SLA_RESOLUTION_MINUTES": env_int("TENANTRY_SUPPORT_PRIORITY_SLA_RESOLUTION_MINUTES", 24 * 60),
    "MAX_ATTACHMENT_BYTES": env_int("TENANTRY_SUPPORT_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024),
    "MAX_ATTACHMENTS": env_int("TENANTRY_SUPPORT_MAX_ATTACHMENTS", 5),
    "ALLOWED_EXTENSIONS": [e.strip().lower() for e in os.environ.get(
        "TENANTRY_SUPPORT_ALLOWED_EXTENSIONS", "png,jpg,jpeg,gif,webp,pdf,txt,log,csv,json,zip").split(",")
        if e.strip()],
    "INBOUND_DOMAIN": os.environ.get("TENANTRY_SUPPORT_INBOUND_DOMAIN", "support.localhost"),
    "INBOUND_LOCAL_PART": os.environ.get("TENANTRY_SUPPORT_INBOUND_LOCAL_PART", "support"),
    "SMTP_HOST": os.environ.get("TENANTRY_SUPPORT_SMTP_HOST", "127.0.0.1"),
    "SMTP_PORT": env_int("TENANTRY_SUPPORT_SMTP_PORT", 2525),
    "SMTP_ENABLED": env_bool("TENANTRY_SUPPORT_SMTP_ENABLED", True),
    "INBOUND_WEBHOOK_KEY": os.environ.get("TENANTRY_SUPPORT_INBOUND_WEBHOOK_KEY", ""),
}

# --- nightly jobs (tenantry.ops.nightly, docs/nightly-jobs.md) -----------------------------------
# The pricing seed's nightly jobs run at these local times in the operator's time zone (an IANA
# name; DST followed). Each is "HH:MM".
TENANTRY_NIGHTLY = {
    "TIME_ZONE": os.environ.get("TENANTRY_OPERATOR_TIME_ZONE", "UTC"),
    "HIBERNATE_AT": os.environ.get("TENANTRY_NIGHTLY_HIBERNATE_AT", "02:00"),
    "CLEANUP_AT": os.environ.get("TENANTRY_NIGHTLY_CLEANUP_AT", "03:00"),
    "STORAGE_AT": os.environ.get("TENANTRY_NIGHTLY_STORAGE_AT", "04:00"),
    "ADDONS_AT": os.environ.get("TENANTRY_NIGHTLY_ADDONS_AT", "05:00"),
    "LIMITS_AT": os.environ.get("TENANTRY_NIGHTLY_LIMITS_AT", "06:00"),
    # Housekeeping of other apps, on the same clock (they ran at fixed UTC times before).
    "AUDIT_ANONYMISE_AT": os.environ.get("TENANTRY_NIGHTLY_AUDIT_ANONYMISE_AT", "03:20"),
    "DRILLS_AT": os.environ.get("TENANTRY_NIGHTLY_DRILLS_AT", "03:30"),
    "TEAM_PURGE_AT": os.environ.get("TENANTRY_NIGHTLY_TEAM_PURGE_AT", "03:40"),
    # 02:00: running instances without a request for this many days are hibernated (0: never).
    "HIBERNATE_IDLE_DAYS": env_int("TENANTRY_NIGHTLY_HIBERNATE_IDLE_DAYS", 5),
    # 03:00: what the clean-up keeps (days).
    "KEEP_USAGE_EVENTS_DAYS": env_int("TENANTRY_KEEP_USAGE_EVENTS_DAYS", 400),
    "KEEP_CLOSED_GAPS_DAYS": env_int("TENANTRY_KEEP_CLOSED_GAPS_DAYS", 90),
    "KEEP_LOGIN_TICKETS_DAYS": env_int("TENANTRY_KEEP_LOGIN_TICKETS_DAYS", 1),
}
