"""Any S3 API (AWS, Scaleway, MinIO…) through boto3: multipart uploads streamed part by part,
botocore's own retries with backoff for each call, and a final check that the object at the
target has the size we sent and the ETag S3 computes from the parts' MD5s (for a multipart
upload: md5 of the parts' md5s, "-<parts>"). Only then is the object reported as stored.

Servers that encrypt with KMS change the ETag: set `verify_etag: false` for those (the size is
still checked, and every restore checks the sha256 in the manifest).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from tenantry.backups.targets.base import BackendError, BackupTarget, StoredObject, TransientBackendError

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last


class S3Target(BackupTarget):
    offsite = True
    def __init__(self, *, alias: str = "s3", bucket: str = "", prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, access_key: str | None = None, secret_key: str | None = None,
                 part_size_mb: int = 16, max_attempts: int = 4, connect_timeout: float = 5,
                 read_timeout: float = 60, verify_etag: bool = True, **options: object):
        super().__init__(alias=alias)
        if not bucket:
            raise BackendError("the S3 backup target needs a bucket", code="bad_config")
        self.bucket = bucket
        self.prefix = prefix
        self.part_bytes = max(MIN_PART_BYTES, int(part_size_mb) * 1024 * 1024)
        self.verify_etag = verify_etag
        config = Config(retries={"max_attempts": max_attempts, "mode": "standard"},
                        connect_timeout=connect_timeout, read_timeout=read_timeout,
                        s3={"addressing_style": "path"} if endpoint_url else None)
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, config=config)

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        name = self._key(key)
        with _translate(f"start the upload of {name}"):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        digest = hashlib.sha256()
        part_md5s: list[bytes] = []
        parts: list[dict[str, Any]] = []
        size = 0
        try:
            for body in _parts(chunks, self.part_bytes):
                digest.update(body)
                size += len(body)
                number = len(parts) + 1
                md5 = hashlib.md5(body, usedforsecurity=False)
                with _translate(f"upload part {number} of {name}"):
                    answer = self.client.upload_part(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                                     PartNumber=number, Body=body)
                part_md5s.append(md5.digest())
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            with _translate(f"complete the upload of {name}"):
                self.client.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                                      MultipartUpload={"Parts": parts})
        except BaseException:
            # Parts left behind cost money: abort, best effort (the target may be what is down);
            # the original error is the one to report.
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise
        with _translate(f"confirm {name}"):
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        if head["ContentLength"] != size:
            raise TransientBackendError(f"{name} has {head['ContentLength']} bytes at the target, {size} were sent",
                                        code="target_mismatch")
        expected = f"{hashlib.md5(b''.join(part_md5s), usedforsecurity=False).hexdigest()}-{len(parts)}"
        if self.verify_etag and head["ETag"].strip('"') != expected:
            raise TransientBackendError(f"{name}: the target's checksum {head['ETag']} is not {expected}",
                                        code="target_mismatch")
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def get(self, key: str) -> Iterator[bytes]:
        name = self._key(key)
        with _translate(f"download {name}"):
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
        return _stream(body, name)

    def delete(self, key: str) -> None:
        with _translate(f"delete {self._key(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def size(self, key: str) -> int | None:
        try:
            with _translate(f"look up {self._key(key)}"):
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except BackendError as exc:
            if exc.code == "not_found":
                return None
            raise
        return int(head["ContentLength"])

    def close(self) -> None:
        self.client.close()


def _parts(chunks: Iterable[bytes], part_bytes: int) -> Iterator[bytes]:
    """Regroup a stream into parts of `part_bytes` (the last may be smaller; at least one part)."""
    pending = bytearray()
    sent = False
    for chunk in chunks:
        pending += chunk
        while len(pending) >= part_bytes:
            yield bytes(pending[:part_bytes])
            del pending[:part_bytes]
            sent = True
    if pending or not sent:
        yield bytes(pending)


def _stream(body: Any, name: str) -> Iterator[bytes]:
    try:
        with _translate(f"download {name}"):
            yield from body.iter_chunks(1024 * 1024)
    finally:
        body.close()


@contextlib.contextmanager
def _translate(doing: str) -> Iterator[None]:
    """botocore's exceptions → the two errors a target may raise."""
    try:
        yield
    except BackendError:
        raise
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = error.get("Code", "")
        message = f"Could not {doing}: {code} {error.get('Message', '')}".strip()
        if code in ("NoSuchKey", "404", "NotFound"):
            raise BackendError(message, code="not_found") from exc
        if status >= 500 or status in (408, 429) or code in ("SlowDown", "RequestTimeout"):
            raise TransientBackendError(message, code="target_unavailable") from exc
        raise BackendError(message, code="target_refused") from exc
    except (botocore.exceptions.BotoCoreError, ConnectionError, TimeoutError) as exc:
        raise TransientBackendError(f"Could not {doing}: the S3 target is unreachable "
                                    f"({exc.__class__.__name__})", code="target_unavailable") from exc
