"""Backup benchmark: one volume backed up to and restored from a real S3 API server (moto in
server mode on 127.0.0.1), through Tenantry's pipeline vs the bare work, in one run.

    .venv/bin/python bench/backup.py [--size-mb 1024] [--random-share 0.5] [--rounds 1]

Bare work (run as root, on the Docker host): `tar c` of the volume's data directly on the host
(its Mountpoint from `docker volume inspect`) piped to a multipart S3 upload (boto3, the same
part size as Tenantry's); restore: the mountpoint emptied, then the object downloaded and piped
into `tar x` there. (Not `docker run … tar`: the docker CLI's attach stream runs at ~20 MB/s and
made the baseline meaningless.)
Tenantry: the runtime's export_volume (helper container, Docker's archive API) → zstd + AES-GCM
frames (sealing.py) → S3Target.put (multipart, then size + ETag confirmed at the target), the
three stages overlapped in threads exactly as tenantry.backups.archive does it; restore: the
verify pass (every byte read and checked) is NOT included — it is what `restore` adds on purpose
— only what archive.restore_volumes runs: import_volume (helper made while the first chunk comes,
volume emptied, written through a FIFO with this local engine, see docker_volumes.py) fed by
archive.read_stored's write pass (get → unseal, every frame authenticated, the stored bytes'
size and sha256 and the tar's size checked before the last chunk is given).
`--rounds N` repeats the restore pair N times, in turn bare or Tenantry first, and prints each.
Prints MB/s of each and the ratio each way (goal ≤ 1.3), and the load average before/after.

The volume holds `--random-share` of incompressible random bytes and the rest text-like data.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backup_volume import bench_target, fill_volume, load, setup_django, start_moto  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--random-share", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=1, help="restore rounds (bare and Tenantry each); the median "
                                                              "round's figures are printed")
    args = parser.parse_args()

    setup_django("backup")
    import docker
    from cryptography.fernet import Fernet
    from django.conf import settings

    from tenantry.backups.archive import PREFETCH_CHUNKS, read_stored
    from tenantry.backups.pipeline import prefetch
    from tenantry.backups.sealing import Digest, seal
    from tenantry.runtime.backends.base import Deployment
    from tenantry.runtime.backends.docker import DockerRuntime

    image = settings.TENANTRY["BACKUP_HELPER_IMAGE"]
    client = docker.from_env(timeout=600)
    volume = f"bench-backup-{os.getpid()}"
    labels = {"tenantry.installation": "bench-backup", "tenantry.instance": "bench"}
    moto, endpoint = start_moto()
    try:
        # One client for both sides (same configuration and connection pool).
        target = bench_target(endpoint)
        s3 = target.client
        client.volumes.create(volume, labels=labels)
        fill_volume(client, image, volume, args.size_mb, args.random_share)
        size = args.size_mb * 1_000_000 * 1.048576  # MiB in MB
        print(f"volume: {args.size_mb} MiB ({args.random_share:.0%} random), moto S3 at {endpoint}")

        print(f"load average before: {load()}")
        mountpoint = client.api.inspect_volume(volume)["Mountpoint"]

        # --- bare: tar on the host | S3 multipart upload; S3 download | tar x on the host ---------
        part = target.part_bytes
        started = time.monotonic()
        tar = subprocess.Popen(["tar", "c", "-C", mountpoint, "."], stdout=subprocess.PIPE)
        upload = s3.create_multipart_upload(Bucket="bench", Key="bare.tar")["UploadId"]
        parts = []
        while body_part := tar.stdout.read(part):
            answer = s3.upload_part(Bucket="bench", Key="bare.tar", UploadId=upload, PartNumber=len(parts) + 1,
                                    Body=body_part)
            parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
        s3.complete_multipart_upload(Bucket="bench", Key="bare.tar", UploadId=upload,
                                     MultipartUpload={"Parts": parts})
        if tar.wait() != 0:
            raise SystemExit("bare backup: tar c failed")
        bare_up = time.monotonic() - started

        def bare_restore() -> float:
            started = time.monotonic()
            subprocess.run(["find", mountpoint, "-mindepth", "1", "-delete"], check=True)
            untar = subprocess.Popen(["tar", "x", "-C", mountpoint], stdin=subprocess.PIPE)
            body = s3.get_object(Bucket="bench", Key="bare.tar")["Body"]
            for chunk in body.iter_chunks(1024 * 1024):
                untar.stdin.write(chunk)
            untar.stdin.close()
            if untar.wait() != 0:
                raise SystemExit("bare restore: tar x failed")
            return time.monotonic() - started

        # --- through Tenantry --------------------------------------------------------------------
        runtime = DockerRuntime(installation_id="bench-backup", firewall="off")
        deployment = Deployment(instance_id="bench", slug="bench", network="none", subnet="", gateway="",
                                volumes=(volume,), containers=(), entrypoint_service="", entrypoint_port=0)
        key = Fernet.generate_key()
        depth = PREFETCH_CHUNKS
        started = time.monotonic()
        plain = Digest()
        exported = prefetch(runtime.export_volume(deployment, volume), depth=depth, name="export")
        stored = target.put("tenantry.enc", prefetch(seal(exported, key, plain=plain), depth=depth, name="seal"))
        ours_up = time.monotonic() - started

        entry = {"key": "tenantry.enc", "size": stored.size, "sha256": stored.sha256, "tar_size": plain.size,
                 "tar_sha256": plain.sha256}

        def ours_restore() -> float:
            # What restore_volumes runs (read_stored raises BackupCorrupt if anything differs).
            started = time.monotonic()
            runtime.import_volume(deployment, volume, read_stored(target, entry, key, check_tar_sha256=False))
            return time.monotonic() - started

        # Each round runs both restores, in turn first (the machine's load drifts).
        rounds = []
        for round_number in range(args.rounds):
            first, second = (bare_restore, ours_restore) if round_number % 2 == 0 else (ours_restore, bare_restore)
            seconds = {first: first(), second: second()}
            rounds.append((seconds[bare_restore], seconds[ours_restore]))
            if args.rounds > 1:
                print(f"  restore round {round_number + 1}: bare {seconds[bare_restore]:.1f} s, tenantry "
                      f"{seconds[ours_restore]:.1f} s, ratio {seconds[ours_restore] / seconds[bare_restore]:.2f} "
                      f"(load {load()})", flush=True)
        bare_down, ours_down = sorted(rounds, key=lambda pair: pair[1] / pair[0])[len(rounds) // 2]

        mb = size / 1e6
        print(f"load average after:  {load()}")
        print(f"stored: {stored.size / 1e6:.0f} MB for a {plain.size / 1e6:.0f} MB tar")
        print(f"backup   bare {mb / bare_up:7.1f} MB/s ({bare_up:.1f} s)   tenantry {mb / ours_up:7.1f} MB/s "
              f"({ours_up:.1f} s)   ratio {ours_up / bare_up:.2f}")
        median = " (the median round)" if args.rounds > 1 else ""
        print(f"restore  bare {mb / bare_down:7.1f} MB/s ({bare_down:.1f} s)   tenantry {mb / ours_down:7.1f} MB/s "
              f"({ours_down:.1f} s)   ratio {ours_down / bare_down:.2f}{median}")
    finally:
        moto.kill()
        for container in client.containers.list(all=True, filters={"label": "tenantry.installation=bench-backup"}):
            container.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(volume).remove(force=True)


if __name__ == "__main__":
    main()
