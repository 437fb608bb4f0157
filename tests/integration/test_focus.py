"""A client's focal point (x-amz-meta-focus) through the service, and the crop windows it reports: in the
completion event and in each cropped rendition's metadata. moto in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from image_optimizer.aws.objects import ObjectRef
from image_optimizer.aws.service import ImageService
from image_optimizer.aws.storage import EventPublisher, S3Storage
from image_optimizer.settings import load_settings
from tests.conftest import BUCKET, png_bytes
from tests.unit.test_crop import scene

THUMBNAILS = "thumb:150x150:smart,band:400x100:crop,small:320x320:fit"


class Bus:
    """An EventBridge client that keeps what it is sent."""

    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.details += [json.loads(entry["Detail"]) for entry in Entries]
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}


def process(s3: Any, key: str, data: bytes, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """Upload, process the upload's event, return the ImageOptimized event's renditions by name."""
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=metadata or {})
    bus = Bus()
    service = ImageService(
        S3Storage(s3), load_settings({"THUMBNAILS": THUMBNAILS}), publisher=EventPublisher("bus", client=bus)
    )
    outcome = service.process(ObjectRef(BUCKET, key, response["ETag"].strip('"'), size=len(data)))
    assert outcome.status == "processed", outcome.reason
    (detail,) = bus.details
    return {item["name"]: item for item in detail["renditions"]}


def window_metadata(s3: Any, key: str) -> tuple[str | None, str | None]:
    metadata = s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    return metadata.get("window"), metadata.get("source-size")


def test_the_focal_point_places_every_crop_and_each_window_is_reported(s3: Any) -> None:
    # Given a picture whose salient object is on the left, and a client that says the subject is at the right
    data = png_bytes(scene((900, 450), (150, 225)))

    renditions = process(s3, "incoming/focus.png", data, {"focus": "0.8,0.3"})

    # Then the smart and the plain crop both keep (720, 135), as central as the image allows
    assert renditions["thumb"]["window"] == [450, 0, 900, 450]
    assert renditions["band"]["window"] == [0, 22, 900, 247]  # 900x225 centred on y=135 (22.5, rounded even)
    assert renditions["main"]["window"] is None and renditions["small"]["window"] is None
    # and each cropped rendition carries its window for clients that read the bucket
    assert window_metadata(s3, "media/focus_thumb.jpg") == ("450,0,900,450", "900x450")
    assert window_metadata(s3, "media/focus.jpg") == (None, None)


def test_without_focus_the_smart_crop_finds_the_subject(s3: Any) -> None:
    renditions = process(s3, "incoming/plain.png", png_bytes(scene((900, 450), (150, 225))))
    left, _, right, _ = renditions["thumb"]["window"]
    assert left <= 105 and right >= 195  # the disc, 105..195
    assert renditions["band"]["window"] == [0, 112, 900, 337]  # a plain crop stays centred


@pytest.mark.parametrize("bad", ["1.5,0.5", "0.5", "left,top", "0.1,0.2,0.3", ""])
def test_bad_focus_metadata_is_ignored_with_one_log_line(s3: Any, caplog: Any, bad: str) -> None:
    data = png_bytes(scene((900, 450), (150, 225)))

    renditions = process(s3, "incoming/bad.png", data, {"focus": bad})

    left, _, right, _ = renditions["thumb"]["window"]  # processed as if there were none
    assert left <= 105 and right >= 195
    logged = [record for record in caplog.records if record.getMessage() == "focus metadata ignored"]
    assert len(logged) == 1 and logged[0].levelname == "WARNING"
    assert logged[0].key == "incoming/bad.png"


def test_the_same_bytes_with_another_focal_point_replace_the_crops(s3: Any) -> None:
    data = png_bytes(scene((900, 450), (150, 225)))
    process(s3, "incoming/again.png", data, {"focus": "0.9,0.5"})
    assert window_metadata(s3, "media/again_thumb.jpg")[0] == "450,0,900,450"

    # The same bytes (the same ETag) again, now focused on the left
    renditions = process(s3, "incoming/again.png", data, {"focus": "0.1,0.5"})

    assert renditions["thumb"]["window"] == [0, 0, 450, 450]
    assert window_metadata(s3, "media/again_thumb.jpg")[0] == "0,0,450,450"
