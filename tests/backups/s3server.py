"""A real S3 API server on 127.0.0.1 (moto in server mode, a subprocess), never an in-process mock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import wait_for
from tests.testenv import free_port


class S3Server:
    def __init__(self, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115
        server = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, timeout=20, what="the moto S3 server")

    def _answers(self) -> bool:
        try:
            return requests.get(self.url, timeout=1).status_code < 500
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def s3_target_settings(server: S3Server, bucket: str, **options) -> dict:
    return {"BACKEND": "tenantry.backups.targets.s3.S3Target",
            "OPTIONS": {"bucket": bucket, "prefix": "tenantry/", "endpoint_url": server.url, "access_key": "test",
                        "secret_key": "test", "max_attempts": 2, "connect_timeout": 1, "read_timeout": 10,
                        **options}}
