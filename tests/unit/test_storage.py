"""S3Storage's translation of S3's answers to a conditional write (botocore's Stubber: no server)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from image_optimizer.aws.storage import ObjectChanged, S3Storage

WRITE = {"content_type": "image/jpeg", "cache_control": "max-age=60", "metadata": {}}


@pytest.mark.parametrize(
    "code,status",
    [
        ("PreconditionFailed", 412),  # the key is taken, or no longer holds the ETag we saw
        ("ConditionalRequestConflict", 409),  # another conditional write to the key was in flight
    ],
)
def test_a_failed_write_condition_is_object_changed(code: str, status: int) -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("put_object", service_error_code=code, http_status_code=status)
        with pytest.raises(ObjectChanged):
            S3Storage(client).put("bucket", "media/a.jpg", b"jpeg", replacing=None, **WRITE)


def test_other_errors_pass_through() -> None:
    from botocore.exceptions import ClientError

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ClientError, match="AccessDenied"):
            S3Storage(client).put("bucket", "media/a.jpg", b"jpeg", replacing='"etag"', **WRITE)
