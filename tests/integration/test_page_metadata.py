"""What a page needs travels with the renditions: every rendition's metadata (one HEAD of any of them lays the
image out) and the ImageOptimized event carry the placeholder, the average colour and the sizes."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import replace
from typing import Any
from unittest import mock

from PIL import Image

from image_optimizer import handler
from image_optimizer.imaging import placeholder, thumbhash
from image_optimizer.specs import parse_extra_formats
from tests.conftest import BUCKET, gradient, jpeg_bytes, keys
from tests.integration.test_completion_events import subscriber  # noqa: F401 - the fixture
from tests.integration.test_handler import put


def test_every_rendition_carries_its_size_and_the_uploads_placeholder(s3: Any, context: Any) -> None:
    with mock.patch.object(
        handler,
        "settings",
        replace(
            handler.settings, pipeline=replace(handler.settings.pipeline, extra_formats=parse_extra_formats("webp"))
        ),
    ):
        handler.get_service.cache_clear()
        handler.lambda_handler(put(s3, "incoming/p/cat.jpg", jpeg_bytes(gradient(1500, 1000))), context)
    handler.get_service.cache_clear()

    written = keys(s3, "media/")
    assert len(written) == 6  # three renditions, JPEG and WebP
    hashes = set()
    for key in written:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        meta = head["Metadata"]
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with Image.open(io.BytesIO(body)) as image:
            assert (int(meta["width"]), int(meta["height"])) == image.size, key
        assert meta["renditions"] == "main:750x500:fit,thumb:150x150:crop,small:320x213:fit"
        assert re.fullmatch(r"#[0-9a-f]{6}", meta["average-color"])
        hashes.add(meta["thumbhash"])
        assert meta["source-etag"]  # beside the provenance fields, not instead of them
    (only,) = hashes  # one placeholder per upload, the main image's
    decoded = base64.b64decode(only)
    assert thumbhash.thumbhash_to_approximate_aspect_ratio(decoded) == 1.4  # 7:5, the closest the hash holds to 3:2
    assert placeholder.parse_sizes(meta["renditions"])[0] == placeholder.RenditionSize("main", 750, 500, "fit")


def test_the_completion_event_carries_the_placeholder(s3: Any, subscriber: Any, context: Any) -> None:  # noqa: F811
    handler.lambda_handler(put(s3, "incoming/dog.jpg", jpeg_bytes(gradient(800, 1200))), context)

    (message,) = subscriber()
    detail = message["detail"]
    head = s3.head_object(Bucket=BUCKET, Key="media/dog.jpg")["Metadata"]
    assert detail["thumbhash"] == head["thumbhash"]
    assert detail["averageColor"] == head["average-color"]
    assert {(r["name"], r["width"], r["height"]) for r in detail["renditions"]} == {
        ("main", 750, 1125),
        ("thumb", 150, 150),
        ("small", 213, 320),
    }
