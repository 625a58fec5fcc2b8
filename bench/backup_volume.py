"""What the backup benchmarks share: the moto S3 server, the test volume, the load average."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def start_moto() -> tuple[subprocess.Popen, str]:
    """A moto S3 server on 127.0.0.1 (a subprocess), once it answers: (process, endpoint)."""
    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
                                str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # a loaded machine starts it slowly
    while True:
        try:
            requests.get(endpoint, timeout=2)
            return process, endpoint
        except requests.RequestException:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("the moto S3 server did not start") from None
            time.sleep(0.2)


def fill_volume(client: Any, image: str, volume: str, size_mb: int, random_share: float) -> None:
    """`random_share` of the volume incompressible random bytes, the rest text-like 1 MiB files."""
    random_mb = int(size_mb * random_share)
    text_mb = size_mb - random_mb
    fill = (f"/bin/busybox dd if=/dev/urandom of=/v/random bs=1M count={random_mb} 2>/dev/null; "
            f"i=0; while [ $i -lt {text_mb} ]; do /bin/busybox seq 1 150000 | /bin/busybox head -c 1048576 "
            f"> /v/text-$i; i=$((i+1)); done; true")
    client.containers.run(image, ["/bin/sh", "-c", fill], entrypoint=[], volumes={volume: {"bind": "/v"}},
                          remove=True, user="0:0")


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def setup_django(name: str) -> None:
    """Django configured for a benchmark of its own: data directory, installation id."""
    os.environ.setdefault("TENANTRY_DATA_DIR", tempfile.mkdtemp(prefix=f"tenantry-bench-{name}-"))
    os.environ.setdefault("TENANTRY_INSTALLATION_ID", f"bench-{name}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    import django

    django.setup()


def bench_target(endpoint: str) -> Any:
    """Tenantry's S3 target on the benchmark's bucket. A long read timeout: completing a 1 GiB
    multipart upload takes moto a while on a loaded machine."""
    from tenantry.backups.targets.s3 import S3Target

    target = S3Target(bucket="bench", endpoint_url=endpoint, access_key="bench", secret_key="bench", read_timeout=600)
    target.client.create_bucket(Bucket="bench")
    return target
