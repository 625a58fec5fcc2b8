"""The supervisor behind `tenantry up`: a child that keeps dying is restarted with a growing
delay, and the others are left alone (tests/test_up.py kills the real worker and web)."""

from __future__ import annotations

import time

from tenantry.core.supervisor import Supervisor


def test_backoff_doubles_up_to_thirty_seconds():
    assert [Supervisor.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_crashing_child_is_restarted_with_backoff_and_the_others_keep_running():
    said: list[str] = []
    supervisor = Supervisor({"flaky": ["sh", "-c", "exit 3"], "steady": ["sleep", "60"]}, env={"PATH": "/usr/bin:/bin"},
                            say=said.append, warn=said.append)
    supervisor.start_all()
    steady = supervisor.children["steady"].process
    assert steady is not None
    started = time.monotonic()
    try:
        while time.monotonic() - started < 4.5:
            supervisor.poll_once()
            time.sleep(0.05)
        flaky = supervisor.children["flaky"]
        # Died at ~0 s, restarted at ~1 s, died, restarted at ~3 s (2 s later), died: the next try is 4 s away.
        assert flaky.restarts == 2, said
        assert flaky.exit_codes == [3, 3, 3]
        assert flaky.restart_at is not None and flaky.restart_at - time.monotonic() > 2
        assert "flaky exited with code 3" in said[0] and "restarting it in 1 s" in said[0]
        assert any("restarting it in 2 s" in line for line in said)
        assert any(line.startswith("flaky restarted") for line in said)
        assert supervisor.children["steady"].process is steady and steady.poll() is None
    finally:
        supervisor.stop_all(grace_seconds=5)
    assert steady.poll() is not None  # stopped with the rest, and only then
