"""Targets against the real thing: a directory, and a real S3 API server (moto in server mode)."""

from __future__ import annotations

import hashlib
import os

import boto3
import pytest

from tenantry.backups.targets.local import LocalTarget
from tenantry.backups.targets.s3 import S3Target
from tenantry.runtime.backends.base import BackendError, TransientBackendError
from tests.backups.s3server import s3_target_settings


def _s3(server, bucket="bucket-a", **options) -> S3Target:
    boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=bucket)
    return S3Target(**s3_target_settings(server, bucket, **options)["OPTIONS"])


def test_s3_multipart_upload_is_confirmed_and_reads_back(s3_server):
    target = _s3(s3_server, part_size_mb=5)
    data = [os.urandom(1024 * 1024) for _ in range(12)]  # 12 MB: three parts of 5, 5, 2 MB
    stored = target.put("team/x/backup/data.tar.gz.enc", iter(data))
    assert stored.size == 12 * 1024 * 1024
    assert stored.sha256 == hashlib.sha256(b"".join(data)).hexdigest()
    head = target.client.head_object(Bucket="bucket-a", Key="tenantry/team/x/backup/data.tar.gz.enc")
    assert head["ETag"].strip('"').endswith("-3")  # really multipart
    assert b"".join(target.get("team/x/backup/data.tar.gz.enc")) == b"".join(data)
    assert target.size("team/x/backup/data.tar.gz.enc") == stored.size
    target.delete("team/x/backup/data.tar.gz.enc")
    assert target.size("team/x/backup/data.tar.gz.enc") is None
    with pytest.raises(BackendError) as missing:
        list(target.get("team/x/backup/data.tar.gz.enc"))
    assert missing.value.code == "not_found"


def test_s3_down_is_a_transient_error_and_leaves_no_object(s3_server):
    target = _s3(s3_server, part_size_mb=5)
    sent = []

    def source():
        for index in range(15):
            if index == 7:  # a part is up, the next ones are not
                s3_server.stop()
            sent.append(index)
            yield os.urandom(1024 * 1024)

    with pytest.raises(TransientBackendError) as failed:
        target.put("big", source())
    assert failed.value.code == "target_unavailable"
    assert "upload part" in failed.value.message and "unreachable" in failed.value.message
    assert len(sent) >= 8


def test_s3_missing_bucket_is_permanent(s3_server):
    target = S3Target(**s3_target_settings(s3_server, "no-such-bucket")["OPTIONS"])
    with pytest.raises(BackendError) as refused:
        target.put("x", [b"data"])
    assert not isinstance(refused.value, TransientBackendError)
    assert refused.value.code == "target_refused"


def test_local_target_writes_atomically_and_confirms(tmp_path):
    target = LocalTarget(directory=str(tmp_path))
    stored = target.put("a/b/c.enc", [b"one", b"two"])
    assert stored.size == 6 and stored.sha256 == hashlib.sha256(b"onetwo").hexdigest()
    assert (tmp_path / "a/b/c.enc").read_bytes() == b"onetwo"
    assert not list(tmp_path.rglob("*.part"))

    def broken():
        yield b"partial"
        raise OSError(28, "No space left on device")

    with pytest.raises(TransientBackendError):
        target.put("a/b/d.enc", broken())
    assert not (tmp_path / "a/b/d.enc").exists() and not list(tmp_path.rglob("*.part"))
    with pytest.raises(BackendError):
        target.put("../escape", [b"x"])
