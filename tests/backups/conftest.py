from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from tests.backups.s3server import S3Server, s3_target_settings


@pytest.fixture()
def s3_server(output_dir, request) -> Iterator[S3Server]:
    server = S3Server(output_dir / f"moto-{request.node.name}.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def s3_target(s3_server, settings):
    """BACKUP_TARGETS["s3"] on the real S3 API server, with a fresh bucket; new backups go there."""
    from tenantry.core.backends import reset_backends

    boto3.client("s3", endpoint_url=s3_server.url, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket="backups")
    settings.BACKUP_TARGETS = {**settings.BACKUP_TARGETS,
                               "s3": s3_target_settings(s3_server, "backups", part_size_mb=5)}
    settings.TENANTRY = {**settings.TENANTRY, "BACKUP_TARGET": "s3"}
    reset_backends()
    yield s3_server
    reset_backends()
