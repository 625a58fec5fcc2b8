"""Keeps `tenantry up`'s children running: a child that dies is started again with backoff while
the others keep serving (a crashed worker must not take the API and every instance's address down).

Each child runs in a process group of its own, so that a dead child's leftovers (gunicorn's
workers still holding the listening socket) are swept before it starts again, and asks the
kernel for SIGTERM should the supervisor itself die.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A child that stayed up this long before dying is treated as a first failure again.
STABLE_AFTER_SECONDS = 30.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0  # consecutive quick deaths, for the backoff
    restarts: int = 0
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(self, commands: dict[str, list[str]], *, env: dict[str, str],
                 say: Callable[[str], None], warn: Callable[[str], None]):
        self.children = {name: Child(name, command) for name, command in commands.items()}
        self.env = env
        self.say = say
        self.warn = warn
        self.stopping = False

    def start_all(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command, env=self.env, process_group=0,
                                         preexec_fn=_die_with_parent)  # `up` is single-threaded
        child.started_at = time.monotonic()
        child.restart_at = None

    @staticmethod
    def backoff(failures: int) -> float:
        """1 s, 2 s, 4 s, … up to 30 s between attempts of a child that keeps dying."""
        return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, failures - 1))

    def poll_once(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping:
                    self._spawn(child)
                    child.restarts += 1
                    self.say(f"{child.name} restarted (pid {child.process.pid if child.process else '?'}, "
                             f"restart {child.restarts})")
                continue
            process = child.process
            if process is None or process.poll() is None:
                continue
            code = process.returncode
            child.exit_codes.append(code)
            self._kill_group(process.pid, signal.SIGKILL)  # its orphans, e.g. gunicorn's workers
            ran_for = now - child.started_at
            child.failures = 1 if ran_for >= STABLE_AFTER_SECONDS else child.failures + 1
            delay = self.backoff(child.failures)
            child.restart_at = now + delay
            self.warn(f"{child.name} exited with code {code} after {ran_for:.0f} s; restarting it in "
                      f"{delay:.0f} s, the rest keeps running")

    def run(self, *, interval: float = 0.5) -> None:
        while not self.stopping:
            self.poll_once()
            time.sleep(interval)

    def stop_all(self, *, grace_seconds: float = 15.0) -> None:
        self.stopping = True
        running = [c.process for c in self.children.values() if c.process and c.process.poll() is None]
        for process in running:
            self._kill_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill_group(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        for child in self.children.values():  # leftovers of children that exited on their own
            if child.process:
                self._kill_group(child.process.pid, signal.SIGKILL)

    @staticmethod
    def _kill_group(pgid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
