"""Backup benchmark: one volume backed up to and restored from a real S3 API server (moto in
server mode on 127.0.0.1), through Tenantry's pipeline vs the bare work, in one run.

    .venv/bin/python bench/backup.py [--size-mb 1024] [--random-share 0.5]

Bare work: `tar c` of the volume in a container, piped to a multipart S3 upload (boto3,
same part size); restore: the object downloaded and piped into `tar x` in a container.
Tenantry: the runtime's export_volume (helper container, Docker's archive API) → gzip → Fernet
frames → S3Target.put (multipart, then size + ETag confirmed at the target); restore: verify
pass (every byte read and checked) is NOT included — it is what `restore` adds on purpose — only
get → unseal (checksums) → import_volume. Prints MB/s of each and the ratio (goal ≤ 1.3).

The volume holds `--random-share` of incompressible random bytes and the rest text-like data.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--random-share", type=float, default=0.5)
    args = parser.parse_args()

    os.environ.setdefault("TENANTRY_DATA_DIR", tempfile.mkdtemp(prefix="tenantry-bench-backup-"))
    os.environ.setdefault("TENANTRY_INSTALLATION_ID", "bench-backup")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    import django

    django.setup()
    import boto3
    import docker
    from cryptography.fernet import Fernet
    from django.conf import settings

    from tenantry.backups.sealing import Digest, seal, unseal
    from tenantry.backups.targets.s3 import S3Target
    from tenantry.runtime.backends.base import Deployment
    from tenantry.runtime.backends.docker import DockerRuntime

    image = settings.TENANTRY["BACKUP_HELPER_IMAGE"]
    client = docker.from_env(timeout=600)
    port = _free_port()
    moto = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    volume = f"bench-backup-{os.getpid()}"
    labels = {"tenantry.installation": "bench-backup", "tenantry.instance": "bench"}
    try:
        time.sleep(2)
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench")
        s3.create_bucket(Bucket="bench")
        client.volumes.create(volume, labels=labels)
        random_mb = int(args.size_mb * args.random_share)
        text_mb = args.size_mb - random_mb
        fill = (f"/bin/busybox dd if=/dev/urandom of=/v/random bs=1M count={random_mb} 2>/dev/null; "
                f"i=0; while [ $i -lt {text_mb} ]; do /bin/busybox seq 1 150000 | /bin/busybox head -c 1048576 "
                f"> /v/text-$i; i=$((i+1)); done; true")
        client.containers.run(image, ["/bin/sh", "-c", fill], entrypoint=[], volumes={volume: {"bind": "/v"}},
                              remove=True, user="0:0")
        size = args.size_mb * 1_000_000 * 1.048576  # MiB in MB
        print(f"volume: {args.size_mb} MiB ({args.random_share:.0%} random), moto S3 at {endpoint}")

        # --- bare: tar | S3 multipart upload; S3 download | tar x ---------------------------------
        part = 16 * 1024 * 1024
        started = time.monotonic()
        tar = subprocess.Popen(["docker", "run", "--rm", "--network", "none", "-v", f"{volume}:/v", "--entrypoint",
                                "/bin/busybox", image, "tar", "c", "-C", "/", "v"], stdout=subprocess.PIPE)
        upload = s3.create_multipart_upload(Bucket="bench", Key="bare.tar")["UploadId"]
        parts = []
        while body_part := tar.stdout.read(part):
            answer = s3.upload_part(Bucket="bench", Key="bare.tar", UploadId=upload, PartNumber=len(parts) + 1,
                                    Body=body_part)
            parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
        s3.complete_multipart_upload(Bucket="bench", Key="bare.tar", UploadId=upload,
                                     MultipartUpload={"Parts": parts})
        tar.wait()
        bare_up = time.monotonic() - started
        started = time.monotonic()
        untar = subprocess.Popen(["docker", "run", "--rm", "-i", "--network", "none", "-v", f"{volume}:/v",
                                  "--entrypoint", "/bin/busybox", image, "tar", "x", "-C", "/"], stdin=subprocess.PIPE)
        body = s3.get_object(Bucket="bench", Key="bare.tar")["Body"]
        for chunk in body.iter_chunks(1024 * 1024):
            untar.stdin.write(chunk)
        untar.stdin.close()
        untar.wait()
        bare_down = time.monotonic() - started
        s3.delete_object(Bucket="bench", Key="bare.tar")

        # --- through Tenantry --------------------------------------------------------------------
        runtime = DockerRuntime(installation_id="bench-backup", firewall="off")
        deployment = Deployment(instance_id="bench", slug="bench", network="none", subnet="", gateway="",
                                volumes=(volume,), containers=(), entrypoint_service="", entrypoint_port=0)
        target = S3Target(bucket="bench", endpoint_url=endpoint, access_key="bench", secret_key="bench")
        key = Fernet.generate_key()
        started = time.monotonic()
        plain = Digest()
        stored = target.put("tenantry.enc", seal(runtime.export_volume(deployment, volume), key, plain=plain))
        ours_up = time.monotonic() - started
        started = time.monotonic()
        runtime.import_volume(deployment, volume, unseal(target.get("tenantry.enc"), key))
        ours_down = time.monotonic() - started

        mb = size / 1e6
        print(f"stored: {stored.size / 1e6:.0f} MB for a {plain.size / 1e6:.0f} MB tar")
        print(f"backup   bare {mb / bare_up:7.1f} MB/s ({bare_up:.1f} s)   tenantry {mb / ours_up:7.1f} MB/s "
              f"({ours_up:.1f} s)   ratio {ours_up / bare_up:.2f}")
        print(f"restore  bare {mb / bare_down:7.1f} MB/s ({bare_down:.1f} s)   tenantry {mb / ours_down:7.1f} MB/s "
              f"({ours_down:.1f} s)   ratio {ours_down / bare_down:.2f}")
    finally:
        moto.kill()
        for container in client.containers.list(all=True, filters={"label": "tenantry.installation=bench-backup"}):
            container.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(volume).remove(force=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
