"""Completion events (EVENT_BUS_NAME): one per upload on moto's EventBridge, routed by a rule to SQS as a
subscriber would route them, and each naming exactly the objects the function left in the bucket."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from unittest import mock

import pytest
from PIL import Image

from image_optimizer import handler
from image_optimizer.aws.service import ImageService
from image_optimizer.aws.storage import EventPublisher
from tests.conftest import BUCKET, gradient, jpeg_bytes, keys, png_bytes
from tests.integration.test_handler import put, s3_event

BUS = "image-events"


@pytest.fixture
def subscriber(s3: Any) -> Iterator[Any]:
    """A bus, a rule matching this function's events, an SQS queue as its target; the handler publishes there."""
    import boto3

    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    events.create_event_bus(Name=BUS)
    queue_url = sqs.create_queue(QueueName="image-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="image-optimizer-done",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": ["image-optimizer"], "detail-type": ["ImageOptimized", "ImageRejected"]}),
    )
    events.put_targets(Rule="image-optimizer-done", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])
    with mock.patch.object(handler, "settings", replace(handler.settings, event_bus_name=BUS)):
        handler.get_service.cache_clear()
        yield lambda: [
            json.loads(message["Body"])
            for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        ]
    handler.get_service.cache_clear()


def test_a_processed_upload_announces_its_renditions(s3: Any, subscriber: Any, context: Any) -> None:
    data = jpeg_bytes(gradient(1600, 1200))
    event = put(s3, "incoming/albums/My Photo.jpg", data)

    handler.lambda_handler(event, context)

    (message,) = subscriber()
    assert message["source"] == "image-optimizer"
    assert message["detail-type"] == "ImageOptimized"
    detail = message["detail"]
    assert detail["bucket"] == BUCKET
    assert detail["sourceKey"] == "incoming/albums/My Photo.jpg"
    assert detail["sourceEtag"] == event["Records"][0]["s3"]["object"]["eTag"]
    assert detail["name"] == "albums/My Photo.jpg"
    assert (detail["format"], detail["width"], detail["height"], detail["bytesIn"]) == ("JPEG", 1600, 1200, len(data))
    renditions = {item["name"]: item for item in detail["renditions"]}
    assert set(renditions) == {"main", "thumb", "small"}
    assert sorted(item["key"] for item in renditions.values()) == keys(s3, "media/")
    for item in renditions.values():  # sizes and dimensions are those of the stored objects
        body = s3.get_object(Bucket=BUCKET, Key=item["key"])["Body"].read()
        assert len(body) == item["bytes"]
        with Image.open(io.BytesIO(body)) as image:
            assert image.size == (item["width"], item["height"])
    assert renditions["main"]["key"] == "media/albums/My Photo.jpg"
    assert keys(s3, "incoming/") == []


def test_a_rejected_upload_announces_where_it_went_and_why(s3: Any, subscriber: Any, context: Any) -> None:
    handler.lambda_handler(put(s3, "incoming/notes.png", b"this is not an image"), context)

    (message,) = subscriber()
    assert message["detail-type"] == "ImageRejected"
    detail = message["detail"]
    assert detail["sourceKey"] == "incoming/notes.png"
    assert detail["name"] == "notes.jpg"
    assert detail["failedKey"] == "failed/notes.png"
    assert detail["errorKind"] == "unsupported_format"
    assert detail["reason"]
    assert keys(s3, "failed/") == ["failed/notes.png"]


def test_no_bus_no_events(s3: Any, context: Any) -> None:
    assert handler.get_service().publisher is None
    handler.lambda_handler(put(s3, "incoming/a.png", png_bytes(gradient(40, 30))), context)
    assert keys(s3, "media/") == ["media/a.jpg", "media/a_small.jpg", "media/a_thumb.jpg"]


class RefusingEvents:
    """EventBridge answering with a failed entry (throttled) instead of an HTTP error."""

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}]}


def test_an_event_that_cannot_be_published_keeps_the_original_for_the_retry(
    s3: Any, subscriber: Any, context: Any
) -> None:
    event = put(s3, "incoming/a.png", png_bytes(gradient(40, 30)))
    service = handler.get_service()
    refusing = ImageService(service.storage, service.settings, publisher=EventPublisher(BUS, RefusingEvents()))
    with (
        mock.patch.object(handler, "get_service", return_value=refusing),
        pytest.raises(handler.RecordsFailed, match="PublishFailed"),
    ):
        handler.lambda_handler(event, context)
    assert keys(s3, "incoming/") == ["incoming/a.png"]  # the retry will find it

    handler.lambda_handler(event, context)  # the retry, with EventBridge healthy again

    assert [message["detail-type"] for message in subscriber()] == ["ImageOptimized"]
    assert keys(s3, "incoming/") == []


def test_the_same_event_again_on_a_versioned_bucket_announces_nothing_twice(
    s3: Any, subscriber: Any, context: Any
) -> None:
    # The processed original stays readable by version id behind its delete marker: the repeat reads it, finds
    # every rendition already its own, and stops there (before, it announced again and deleted again).
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    data = png_bytes(gradient(400, 300))
    response = s3.put_object(Bucket=BUCKET, Key="incoming/v.png", Body=data)
    event = s3_event("incoming/v.png", response["ETag"].strip('"'), len(data))
    event["Records"][0]["s3"]["object"]["versionId"] = response["VersionId"]
    assert handler.lambda_handler(event, context)["results"][0]["status"] == "processed"
    media = {key: s3.head_object(Bucket=BUCKET, Key=key)["ETag"] for key in keys(s3, "media/")}

    [again] = handler.lambda_handler(event, context)["results"]

    assert again["status"] == "skipped" and "already processed" in again["reason"]
    assert [message["detail-type"] for message in subscriber()] == ["ImageOptimized"]
    assert {key: s3.head_object(Bucket=BUCKET, Key=key)["ETag"] for key in keys(s3, "media/")} == media
    markers = s3.list_object_versions(Bucket=BUCKET, Prefix="incoming/").get("DeleteMarkers", [])
    assert len(markers) == 1  # no second delete


def test_the_same_event_again_for_a_rejected_upload_on_a_versioned_bucket_moves_nothing_twice(
    s3: Any, subscriber: Any, context: Any
) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    response = s3.put_object(Bucket=BUCKET, Key="incoming/notes.png", Body=b"not an image")
    event = s3_event("incoming/notes.png", response["ETag"].strip('"'), 12)
    event["Records"][0]["s3"]["object"]["versionId"] = response["VersionId"]
    assert handler.lambda_handler(event, context)["results"][0]["status"] == "rejected"

    [again] = handler.lambda_handler(event, context)["results"]

    assert again["status"] == "skipped" and "already moved" in again["reason"]
    assert [message["detail-type"] for message in subscriber()] == ["ImageRejected"]
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="failed/")["Versions"]
    assert len(versions) == 1  # copied once


def test_the_service_s_parts_use_what_the_service_is_given_now(s3: Any, context: Any) -> None:
    """The writer and the quarantine read the service's settings and publisher at each use: replacing them on the
    service (as a test or a re-wiring does) reaches every write, rejection and event, not only the service's own."""
    service = handler.get_service()
    sent: list[str] = []
    publisher = mock.Mock(spec=EventPublisher)
    publisher.publish.side_effect = lambda detail_type, detail, resources: sent.append(detail_type)
    changed = replace(service.settings, failed_prefix="rejected/", cache_control="max-age=60", event_bus_name=BUS)
    good = put(s3, "incoming/good.png", png_bytes(gradient(40, 30)))
    bad = put(s3, "incoming/bad.png", b"not an image")
    with mock.patch.object(service, "settings", changed), mock.patch.object(service, "publisher", publisher):
        handler.lambda_handler(good, context)
        handler.lambda_handler(bad, context)
    assert s3.head_object(Bucket=BUCKET, Key="media/good.jpg")["CacheControl"] == "max-age=60"
    assert keys(s3, "rejected/") == ["rejected/bad.png"]
    assert sent == ["ImageOptimized", "ImageRejected"]


def test_a_too_large_upload_whose_announcement_failed_is_moved_by_the_retry(
    s3: Any, subscriber: Any, context: Any
) -> None:
    """Rejected from the event's size alone (its ETag as events give it: unquoted): the first attempt copies it to
    failed/ and cannot announce; the retry must still find the upload at its key and finish the move."""
    event = put(s3, "incoming/big.png", png_bytes(gradient(40, 30)))
    service = handler.get_service()
    small = replace(service.settings, max_input_bytes=10)
    refusing = ImageService(service.storage, small, publisher=EventPublisher(BUS, RefusingEvents()))
    with (
        mock.patch.object(handler, "get_service", return_value=refusing),
        pytest.raises(handler.RecordsFailed, match="PublishFailed"),
    ):
        handler.lambda_handler(event, context)
    assert keys(s3) == ["failed/big.png", "incoming/big.png"]  # copied, not announced, so not deleted

    healthy = ImageService(service.storage, small, publisher=service.publisher)
    with mock.patch.object(handler, "get_service", return_value=healthy):
        [result] = handler.lambda_handler(event, context)["results"]

    assert result["status"] == "rejected" and result["error_kind"] == "too_large"
    assert keys(s3) == ["failed/big.png"]
    assert [message["detail-type"] for message in subscriber()] == ["ImageRejected"]
