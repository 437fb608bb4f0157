"""The Django side against the embedded S3 server `make run` uses (moto's server, in this process on 127.0.0.1),
with the example site's settings (pytest-django) and the real handler run on the events S3 would send."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
import pytest

from image_optimizer import handler
from image_optimizer.local.run import embedded_s3, s3_event
from tests.conftest import FakeContext

STORAGE = "image_optimizer.contrib.django.IncomingImageStorage"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with embedded_s3() as url:
        yield url


@pytest.fixture
def s3(endpoint: str) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(endpoint: str, s3: Any, settings: Any) -> str:
    """A fresh bucket per test; STORAGES["default"] (the example's) points at it."""
    name = f"site-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": STORAGE, "OPTIONS": {"bucket_name": name, "endpoint_url": endpoint}},
    }
    return name


@pytest.fixture
def run_function(endpoint: str, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    """Deliver one ObjectCreated event per object waiting in incoming/ to the real handler (as S3 would)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    handler.get_service.cache_clear()

    def run() -> int:
        pending = [item for item in s3.list_objects_v2(Bucket=bucket, Prefix="incoming/").get("Contents", [])]
        for item in pending:
            event = s3_event(bucket, item["Key"], item["ETag"].strip('"'), item["Size"])
            handler.lambda_handler(event, FakeContext())
        return len(pending)

    yield run
    handler.get_service.cache_clear()


def key_of(url: str, bucket: str) -> str:
    """The object a (presigned, path-style) URL points to."""
    path = unquote(urlparse(url).path)
    assert path.startswith(f"/{bucket}/"), url
    return path[len(bucket) + 2 :]


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))
