"""Restore profile: each stage of a volume restore timed alone, on the same 1 GiB volume as
bench/backup.py, then the whole pipeline, so the slowest stage is named by a measurement.

    .venv/bin/python bench/restore_stages.py [--size-mb 1024] [--random-share 0.5] [--repeat 1] [--only …]

Stages (each reads its input from memory and throws its output away, unless it writes a volume):
  S3 GET          target.get() of the sealed object from moto on 127.0.0.1, chunks discarded
  AES-GCM open    every frame decrypted, one thread
  zstd decompress every compressed frame decompressed, one thread
  sha256          one digest of the tar (what a restore's write pass no longer computes: the
                  stored bytes' digest pins the tar, see archive.read_stored)
  unseal          sealing.unseal() as a restore runs it (frames opened 2 at a time in threads)
  tar x (host)    GNU tar on the host into the volume's mountpoint (the bare baseline's writer)
  import <path>   runtime.import_volume() with each transfer path the Docker runtime has
  bare restore    what bench/backup.py's bare side does: S3 GET of a plain tar piped to `tar x` on
                  the host (the mountpoint emptied first)
  full <path>     import_volume fed by archive.read_stored's write pass, as restore_volumes runs
                  it (the stored bytes' digest and the tar's size checked)
Run as root on the Docker host (the host tar writes the volume's mountpoint). Prints MB/s of the
tar's size for each stage, the CPU seconds it cost this process (and its children: the host
tar) and the moto server (the helper container's tar is not counted), and the load average.
`--only NAME` (repeatable) runs the stages whose name contains NAME.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backup_volume import bench_target, fill_volume, load, setup_django, start_moto  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--random-share", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", action="append", help="run the stages whose name contains this (repeatable)")
    args = parser.parse_args()

    setup_django("restore")
    import docker
    from cryptography.fernet import Fernet
    from django.conf import settings

    from tenantry.backups.archive import read_stored
    from tenantry.backups.sealing import Digest, seal, unseal
    from tenantry.runtime.backends.base import Deployment
    from tenantry.runtime.backends.docker import DockerRuntime

    image = settings.TENANTRY["BACKUP_HELPER_IMAGE"]
    client = docker.from_env(timeout=600)
    volume = f"bench-restore-{os.getpid()}"
    labels = {"tenantry.installation": "bench-restore", "tenantry.instance": "bench"}
    moto, endpoint = start_moto()
    try:
        target = bench_target(endpoint)
        client.volumes.create(volume, labels=labels)
        fill_volume(client, image, volume, args.size_mb, args.random_share)
        mountpoint = client.api.inspect_volume(volume)["Mountpoint"]
        deployment = Deployment(instance_id="bench", slug="bench", network="none", subnet="", gateway="",
                                volumes=(volume,), containers=(), entrypoint_service="", entrypoint_port=0)
        runtimes = {transfer: DockerRuntime(installation_id="bench-restore", firewall="off",
                                            volume_transfer=transfer)
                    for transfer in ("attach", "pipe")}
        key = Fernet.generate_key()

        tar = list(runtimes["attach"].export_volume(deployment, volume))
        plain = Digest()
        sealed = list(seal(tar, key, plain=plain))
        stored = target.put("bench.enc", sealed)
        bare_tar = subprocess.run(["tar", "c", "-C", mountpoint, "."], check=True, capture_output=True).stdout
        target.put("bare.tar", [bare_tar])
        del bare_tar
        size = plain.size
        frames = _frames(sealed, key)
        print(f"volume: {args.size_mb} MiB ({args.random_share:.0%} random); tar {size / 1e6:.0f} MB, "
              f"stored {stored.size / 1e6:.0f} MB ({sum(1 for f in frames if f[0]) } of {len(frames)} frames "
              f"compressed); moto S3 at {endpoint}")

        def drain(chunks: Iterable[bytes]) -> None:
            for _ in chunks:
                pass

        def open_all() -> None:
            for _compressed, aead, nonce, body, aad in frames:
                aead.decrypt(nonce, body, aad)

        opened = [(compressed, aead.decrypt(nonce, body, aad)) for compressed, aead, nonce, body, aad in frames]

        def decompress_all() -> None:
            import zstandard

            decompressor = zstandard.ZstdDecompressor()
            for compressed, data in opened:
                if compressed:
                    decompressor.decompress(data, max_output_size=1024 * 1024)

        def sha256_all() -> None:
            digest = Digest()
            for chunk in tar:
                digest.update(chunk)

        def host_tar() -> None:
            subprocess.run(["find", mountpoint, "-mindepth", "1", "-delete"], check=True)
            # The export's members are under `volume/`.
            untar = subprocess.Popen(["tar", "x", "--strip-components=1", "-C", mountpoint], stdin=subprocess.PIPE)
            assert untar.stdin is not None
            for chunk in tar:
                untar.stdin.write(chunk)
            untar.stdin.close()
            if untar.wait() != 0:
                raise SystemExit("host tar x failed")

        def bare() -> None:
            subprocess.run(["find", mountpoint, "-mindepth", "1", "-delete"], check=True)
            untar = subprocess.Popen(["tar", "x", "-C", mountpoint], stdin=subprocess.PIPE)
            assert untar.stdin is not None
            for chunk in target.get("bare.tar"):
                untar.stdin.write(chunk)
            untar.stdin.close()
            if untar.wait() != 0:
                raise SystemExit("bare restore: tar x failed")

        def full(transfer: str) -> Callable[[], None]:
            def run() -> None:  # read_stored raises BackupCorrupt if anything differs
                entry = {"key": "bench.enc", "size": stored.size, "sha256": stored.sha256, "tar_size": size,
                         "tar_sha256": plain.sha256}
                runtimes[transfer].import_volume(deployment, volume,
                                                 read_stored(target, entry, key, check_tar_sha256=False))
            return run

        stages: list[tuple[str, Callable[[], None]]] = [
            ("S3 GET", lambda: drain(target.get("bench.enc"))),
            ("AES-GCM open (1 thread)", open_all),
            ("zstd decompress (1 thread)", decompress_all),
            ("sha256 of the tar", sha256_all),
            ("unseal (threaded, from memory)", lambda: drain(unseal(sealed, key, plain=Digest()))),
            ("tar x on the host (GNU tar)", host_tar),
            ("import_volume attach", lambda: runtimes["attach"].import_volume(deployment, volume, tar)),
            ("import_volume pipe", lambda: runtimes["pipe"].import_volume(deployment, volume, tar)),
            ("bare restore: GET | host tar x", bare),
            ("full restore, attach", full("attach")),
            ("full restore, pipe", full("pipe")),
        ]
        stages = [(name, stage) for name, stage in stages if not args.only or any(o in name for o in args.only)]
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in stages}
        print("stage: MB/s of the tar (wall s; CPU s of this process and its children; CPU s of moto)")
        for _ in range(args.repeat):
            for name, stage in stages:
                times, moto_cpu, started = os.times(), _cpu_seconds(moto.pid), time.monotonic()
                with _ThreadCpu() as threads:
                    stage()
                wall = time.monotonic() - started
                after = os.times()
                ours = sum(after[:4]) - sum(times[:4])
                results[name].append((wall, ours, _cpu_seconds(moto.pid) - moto_cpu))
                print(f"  {name:32s} {size / 1e6 / wall:8.1f} MB/s  ({wall:.2f} s; cpu {ours:.2f} s, "
                      f"moto {results[name][-1][2]:.2f} s)  load {load()}", flush=True)
                if name.startswith("full"):
                    print("    CPU s by thread: " + ", ".join(f"{thread} {seconds:.2f}" for thread, seconds
                                                            in sorted(threads.by_name().items())), flush=True)
        print(f"\nbest of {args.repeat} (wall), with its CPU seconds")
        print("| stage | MB/s | wall s | CPU s (ours) | CPU s (moto) |\n|---|---:|---:|---:|---:|")
        for name, runs in results.items():
            wall, ours, moto_cpu = min(runs)
            print(f"| {name} | {size / 1e6 / wall:.1f} | {wall:.2f} | {ours:.2f} | {moto_cpu:.2f} |")
    finally:
        moto.kill()
        for container in client.containers.list(all=True, filters={"label": "tenantry.installation=bench-restore"}):
            container.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(volume).remove(force=True)


class _ThreadCpu:
    """CPU seconds of each of this process's threads while it runs, by thread name (sampled:
    a stage's thread ends with the stage), so the full pipeline's cost is split by stage."""

    def __init__(self) -> None:
        self.seconds: dict[int, tuple[str, float, float]] = {}  # name, first and last sample
        self.stop = threading.Event()
        self.sampler = threading.Thread(target=self._sample, name="sampler", daemon=True)

    def __enter__(self) -> _ThreadCpu:
        self.sampler.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.sampler.join()

    def _sample(self) -> None:
        while True:
            for thread in threading.enumerate():
                with contextlib.suppress(OSError, TypeError):
                    now = _cpu_seconds(os.getpid(), thread.native_id)
                    first = self.seconds.get(thread.native_id, (thread.name, now, now))[1]
                    self.seconds[thread.native_id] = (thread.name, first, now)
            if self.stop.wait(0.05):
                return

    def by_name(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, first, last in self.seconds.values():
            seconds = last - first if name in ("MainThread", "sampler") else last  # the others start here
            name = name.split("_")[0] if name.startswith("tenantry-seal") else name
            totals[name] = totals.get(name, 0.0) + seconds
        return totals


def _cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU time of a process, or of one of its threads (from /proc)."""
    path = Path(f"/proc/{pid}/task/{tid}/stat") if tid is not None else Path(f"/proc/{pid}/stat")
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _frames(sealed: list[bytes], key: bytes) -> list[tuple]:
    """(compressed, aead, nonce, ciphertext, aad) of every frame of a format-2 archive."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from tenantry.backups import sealing

    blob = b"".join(sealed)
    header = len(sealing.MAGIC) + sealing.SALT_BYTES
    aead = AESGCM(sealing.derive_key(key, blob[len(sealing.MAGIC):header]))
    frames, offset, index = [], header, 0
    while offset < len(blob):
        length, flags = sealing._FRAME.unpack_from(blob, offset)
        body = blob[offset + sealing._FRAME.size:offset + sealing._FRAME.size + length]
        frames.append((bool(flags & sealing.ZSTD), aead, sealing._NONCE.pack(index), body,
                       sealing._AAD.pack(index, flags)))
        offset += sealing._FRAME.size + length
        index += 1
    return frames


if __name__ == "__main__":
    main()
