"""`tenantry serve`'s supervisor: roles are functions forked from the parent; one that dies is
forked again with backoff while the others keep running; stopping ends every role. And the
preload imports every module a role uses but leaves the heavy optional SDKs to first use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import wait_for


def test_a_dead_role_is_forked_again_and_the_others_keep_running(tmp_path):
    from tenantry.ops.serve import ForkSupervisor

    marks = tmp_path / "starts"

    def steady() -> None:
        time.sleep(120)

    def crashing() -> None:
        with marks.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
        sys.exit(3)

    said: list[str] = []
    supervisor = ForkSupervisor({"steady": steady, "crashing": crashing}, say=said.append, warn=said.append)
    supervisor.start_all()
    try:
        steady_pid = supervisor.children["steady"].process.pid  # type: ignore[union-attr]
        # The child names itself once forked: the parent may look before it has.
        wait_for(lambda: Path(f"/proc/{steady_pid}/comm").read_text().strip() == "tn-steady", timeout=10,
                 interval=0.01, what="the role's process to carry its name")

        def started_twice() -> bool:
            supervisor.poll_once()
            return marks.exists() and len(marks.read_text().split()) >= 2

        wait_for(started_twice, timeout=20, interval=0.1, what="the crashing role to be forked again")
        crashing_child = supervisor.children["crashing"]
        assert crashing_child.exit_codes[0] == 3 and crashing_child.restarts >= 1
        assert len(set(marks.read_text().split())) >= 2  # a new process each time
        assert any("crashing exited with code 3" in line for line in said)
        assert supervisor.children["steady"].process.pid == steady_pid  # type: ignore[union-attr]
        assert supervisor.children["steady"].process.poll() is None  # type: ignore[union-attr]
    finally:
        supervisor.stop_all(grace_seconds=5)
    assert supervisor.children["steady"].process.poll() is not None  # type: ignore[union-attr]
    assert not Path(f"/proc/{steady_pid}").exists() or "Z" in Path(f"/proc/{steady_pid}/stat").read_text().split()[2]


def test_preload_imports_the_roles_code_but_not_the_optional_sdks(tmp_path):
    script = ("import django, sys; django.setup()\n"
              "from tenantry.ops.serve import preload\n"
              "preload()\n"
              "import gc\n"
              "loaded = set(sys.modules)\n"
              "print(gc.get_freeze_count() > 100000,\n"
              "      all(m in loaded for m in ('tenantry.edge.app', 'tenantry.runtime.backends.docker',\n"
              "          'tenantry.routing.backends.traefik', 'tenantry.instances.tasks', 'tenantry.urls')),\n"
              "      sorted(m for m in ('weasyprint', 'boto3', 'stripe', 'playwright') if m in loaded))\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tenantry.settings", "TENANTRY_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True True []"
