"""Shared fixtures: images generated in code, moto's in-process S3, the corpus location."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = ROOT / "events"
SAMPLES_DIR = ROOT / "samples"
FIXTURES_DIR = ROOT / "tests" / "fixtures"
BUCKET = "image-optimizer-demo"

# Tests never talk to AWS: dummy credentials and a fixed region for every client, here and in subprocesses.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "ImageOptimizerTests",
    }
)
for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
    os.environ.pop(variable, None)


def run_module(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m image_optimizer ARGS...` from the project root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "image_optimizer", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def corpus_dir() -> Path:
    return Path(os.environ.get("CORPUS_DIR", ROOT.parent / "shared" / "corpus")).resolve()


def jpeg_bytes(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png_bytes(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    """A photo-like RGB test image whose halves differ, so orientation mistakes show."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    red = Image.new("RGB", (width // 2, height // 2), (220, 30, 30))
    image.paste(red, (0, 0))
    return image


@pytest.fixture
def s3() -> Iterator[Any]:
    """moto's in-process S3 with the demo bucket, and a fresh handler service bound to it."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        from image_optimizer import handler

        handler.get_service.cache_clear()
        yield client
        handler.get_service.cache_clear()


class FakeContext:
    function_name = "image-optimizer-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:image-optimizer-test"
    aws_request_id = "11111111-2222-3333-4444-555555555555"
    log_group_name = "/aws/lambda/image-optimizer-test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


def keys(client: Any, prefix: str = "") -> list[str]:
    response = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(obj["Key"] for obj in response.get("Contents", []))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs on two xdist workers (pyproject's addopts, `--dist loadgroup`): a test marked with an
    `xdist_group` of its own (the corpus benchmark: a third of the suite's time, self-contained) runs beside
    the rest, which stays together on one worker in collection order, as before: several tests share fixed
    ports (9000, 8000) and the repository's build and output folders."""
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group("suite"))
