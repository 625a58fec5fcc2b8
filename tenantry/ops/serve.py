"""`tenantry serve`: the production process layout from one preloaded parent.

Every Tenantry process imports the same ~110 MB of Python (Django, the ORM and every app's
models, django-ninja and pydantic, allauth, cryptography, the API's routers and views). Started
as separate programs, each process holds its own copy: seven of them held ~580 MB. Here the
parent imports it all once, freezes it out of the garbage collector's reach (`gc.freeze`, so
that collections do not write to, and so copy, the shared pages) and forks each role, which
shares those pages copy-on-write:

- web: gunicorn's arbiter and its workers (WSGI, several processes, threads in each);
- worker 1…N: Huey consumers on Redis without the periodic scheduler;
- scheduler: the one Huey consumer that enqueues periodic tasks (and runs tasks too);
- edge: the edge's own listener (uvicorn).

The parent restarts a role that dies, with backoff (tenantry.core.supervisor), from the same
preloaded image: a restart costs a fork, not an import. gunicorn replaces its own dead workers.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from tenantry.core.supervisor import Supervisor, _die_with_parent

Role = Callable[[], None]


class ForkedChild:
    """A forked role, with the part of subprocess.Popen's interface the supervisor uses."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
            time.sleep(0.05)
        return self.returncode  # type: ignore[return-value]


class ForkSupervisor(Supervisor):
    """`tenantry up`'s supervisor (restart with backoff, process groups), whose children are
    functions run in processes forked from this one instead of programs started afresh."""

    def __init__(self, roles: dict[str, Role], *, say: Callable[[str], None], warn: Callable[[str], None]):
        super().__init__({name: [name] for name in roles}, env=dict(os.environ), say=say, warn=warn)
        self.roles = roles

    def _spawn(self, child: Any) -> None:
        role = self.roles[child.name]
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: its own process group (swept whole when it dies), never returns
            code = 1
            try:
                os.setpgid(0, 0)
                _die_with_parent()
                for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
                    signal.signal(number, signal.SIG_DFL)
                _set_process_title(f"tn-{child.name.replace(' ', '-')}")
                role()
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        with contextlib.suppress(OSError):  # also here: no window where the group is not its own
            os.setpgid(pid, pid)
        child.process = ForkedChild(pid)
        child.started_at = time.monotonic()
        child.restart_at = None


def _set_process_title(title: str) -> None:
    """Name the process in ps/top (Linux: the comm field, 15 characters)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(15, title[:15].encode(), 0, 0, 0)  # PR_SET_NAME


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own arena (up to 8 per core), and each keeps
    its freed memory: with web and worker threads in every child that adds up. Two arenas per
    process (as MALLOC_ARENA_MAX=2 would, set before any thread starts): threads contend a little
    more on allocation, which this I/O-bound control plane does not notice."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX


def preload() -> Any:
    """Import everything the roles run, then keep it out of the collector's reach. Returns the
    WSGI application."""
    from django.core.wsgi import get_wsgi_application
    from django.db import connections
    from django.urls import get_resolver
    from django.utils.module_loading import autodiscover_modules

    _limit_malloc_arenas()
    application = get_wsgi_application()
    get_resolver().url_patterns  # noqa: B018  every URLconf, router and view module
    autodiscover_modules("tasks")  # every task, as run_huey does
    import gunicorn.app.base  # noqa: F401
    import huey.consumer  # noqa: F401
    import uvicorn  # noqa: F401

    _import_tenantry()  # the edge, the metrics, every backend, every task's module
    from tenantry.catalog.registry import get_catalog

    get_catalog()  # the app specs, parsed once for every role
    from tenantry.api.root import api

    api.get_openapi_schema()  # builds the schemas the API's validation and docs share, once

    connections.close_all()  # no database connection crosses a fork
    gc.collect()
    gc.freeze()
    return application


# Modules left to load on first use, in the one process that needs them: SDKs of optional
# providers (boto3 ~8 MB, stripe), and what only the CLI or the tests use.
_NOT_PRELOADED = ("tenantry.backups.targets.s3", "tenantry.billing.providers.stripe")


def _import_tenantry() -> None:
    """Every module of Tenantry that a role may import on its first task or request (backends,
    reconciler, collectors, presenters), so that none is imported again in each child."""
    import importlib
    import pkgutil

    import tenantry

    for module in pkgutil.walk_packages(tenantry.__path__, "tenantry."):
        name = module.name
        # The WSGI and ASGI entry modules build an application when imported (tenantry.wsgi also
        # collects and freezes): preload() has its own, made once.
        if name.startswith(_NOT_PRELOADED) or ".migrations" in name or ".management" in name or \
                name.startswith(("tenantry.settings", "tenantry.asgi", "tenantry.wsgi")):
            continue
        importlib.import_module(name)


def web_role(application: Any, *, bind: str, workers: int, threads: int) -> Role:
    def run() -> None:
        from gunicorn.app.base import BaseApplication

        class Web(BaseApplication):
            def load_config(self) -> None:
                options = {"bind": bind, "workers": workers, "threads": threads, "graceful_timeout": 20,
                           "max_requests": 2000, "max_requests_jitter": 200, "preload_app": True,
                           "proc_name": "tenantry-web"}
                for key, value in options.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                return application

        Web().run()

    return run


def worker_role(*, periodic: bool, threads: int | None = None) -> Role:
    def run() -> None:
        import logging

        from django.conf import settings
        from huey.consumer_options import ConsumerConfig
        from huey.contrib.djhuey import HUEY

        options: dict[str, Any] = {**settings.HUEY.get("consumer", {}), "periodic": periodic, "verbose": False}
        if threads:
            options["workers"] = threads
        config = ConsumerConfig(**options)
        config.validate()
        logger = logging.getLogger("huey")
        if not logger.handlers:
            config.setup_logger(logger)
        HUEY.create_consumer(**config.values).run()

    return run


def edge_role(*, host: str, port: int) -> Role:
    def run() -> None:
        from tenantry.edge.management.commands.edge import edge_server

        edge_server(host=host, port=port).run()

    return run
