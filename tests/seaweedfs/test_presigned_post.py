"""Browser uploads through `presigned_post` against a server that enforces POST policies (moto accepts any
body: docs/s3-differences.md). The policy, not the page, keeps oversized and non-image uploads out."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from image_optimizer.contrib.django import IncomingImageStorage, presigned_post
from tests.conftest import gradient, jpeg_bytes
from tests.django.test_storage import post_form

pytestmark = pytest.mark.server


@pytest.fixture
def storage(seaweedfs: Any) -> IncomingImageStorage:
    bucket = f"post-{uuid.uuid4().hex[:10]}"
    seaweedfs.client().create_bucket(Bucket=bucket)
    return IncomingImageStorage(
        bucket_name=bucket,
        endpoint_url=seaweedfs.endpoint,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        region_name=seaweedfs.region,
        security_token=None,  # not the suite's dummy AWS_SESSION_TOKEN: SeaweedFS would refuse it
    )


def incoming(storage: IncomingImageStorage, seaweedfs: Any) -> list[str]:
    listing = seaweedfs.client().list_objects_v2(Bucket=storage.bucket_name, Prefix="incoming/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_an_image_within_the_limit_lands_at_the_key_the_server_chose(storage: Any, seaweedfs: Any) -> None:
    post = presigned_post("cat.jpg", "image/jpeg", 1_000_000, storage=storage, upload_to="photos")
    assert post_form(post, jpeg_bytes(gradient(300, 200))) == 204
    assert incoming(storage, seaweedfs) == [post["key"]]


def test_a_body_over_max_bytes_is_refused(storage: Any, seaweedfs: Any) -> None:
    post = presigned_post("big.jpg", "image/jpeg", 1000, storage=storage)
    data = jpeg_bytes(gradient(300, 200))
    assert len(data) > 1000
    assert post_form(post, data) == 400  # EntityTooLarge
    assert incoming(storage, seaweedfs) == []


def test_a_non_image_content_type_is_refused(storage: Any, seaweedfs: Any) -> None:
    post = presigned_post("cat.jpg", "image/jpeg", 1_000_000, storage=storage)
    assert post_form(post, b"<script>alert(1)</script>", content_type="text/html") == 403  # policy condition
    assert incoming(storage, seaweedfs) == []
