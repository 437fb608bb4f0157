"""Every supported event shape -> the same ObjectRef (or a reason to ignore the record).

Powertools' data classes are imported on the first event, not at import: their package loads every event
type (~25 ms of a cold start)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from .objects import ObjectRef

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationTask
    from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord


@dataclass(frozen=True)
class Ignored:
    reason: str
    key: str = ""


Parsed = ObjectRef | Ignored


def is_s3_test_event(event: dict[str, Any]) -> bool:
    return event.get("Event") == "s3:TestEvent"


def from_s3_notification(event: dict[str, Any]) -> list[Parsed]:
    """An S3 notification (direct, or the body of an SQS message). Keys arrive URL-encoded (`+` is a space)."""
    if is_s3_test_event(event):
        return [Ignored("s3:TestEvent")]
    from aws_lambda_powertools.utilities.data_classes import S3Event

    return [_from_s3_record(record) for record in S3Event(event).records]


def _from_s3_record(record: S3EventRecord) -> Parsed:
    s3 = record.s3
    obj = s3.get_object
    key = unquote_plus(obj.key)  # the data class leaves the key URL-encoded, as S3 sent it
    if not record.event_name.startswith("ObjectCreated:"):
        return Ignored(f"not an ObjectCreated event ({record.event_name})", key)
    return ObjectRef(
        bucket=s3.bucket.name,
        key=key,
        etag=obj.get("eTag") or None,
        version_id=obj.version_id,
        size=obj.get("size"),
        sequencer=obj.get("sequencer") or None,
    )


def from_eventbridge(event: dict[str, Any]) -> list[Parsed]:
    """EventBridge "Object Created" from S3."""
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

    parsed = EventBridgeEvent(event)
    if parsed.detail_type != "Object Created":
        return [Ignored(f"not an Object Created event ({parsed.detail_type})")]
    detail = parsed.detail
    obj = detail.get("object", {})
    return [
        ObjectRef(
            bucket=detail["bucket"]["name"],
            key=unquote_plus(obj["key"]),  # URL-encoded as in S3 notifications (Powertools decodes it too)
            etag=obj.get("etag") or None,
            version_id=obj.get("version-id") or None,
            size=obj.get("size"),
            sequencer=obj.get("sequencer") or None,
        )
    ]


def is_eventbridge(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.s3" and "detail-type" in event


def is_batch_operation(event: dict[str, Any]) -> bool:
    return "invocationSchemaVersion" in event and "tasks" in event


def is_sqs(event: dict[str, Any]) -> bool:
    records = event.get("Records") or [{}]
    return bool(records[0].get("eventSource") == "aws:sqs")


def from_sqs_body(body: str) -> list[Parsed]:
    """An SQS message carrying an S3 notification (S3 -> SQS) or an EventBridge event (rule -> SQS)."""
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("the message body is not a JSON object")
    if not (is_eventbridge(message) or is_s3_test_event(message) or "Records" in message):
        raise ValueError("the message body is neither an S3 notification nor an EventBridge S3 event")
    return from_message(message)


def from_message(message: dict[str, Any]) -> list[Parsed]:
    """An EventBridge S3 event or an S3 notification, whichever `message` is."""
    return from_eventbridge(message) if is_eventbridge(message) else from_s3_notification(message)


def from_batch_task(task: S3BatchOperationTask) -> ObjectRef:
    """S3 Batch Operations (schema 1.0 or 2.0): the data class decodes the URL-encoded key; no ETag comes."""
    return ObjectRef(bucket=task.s3_bucket, key=task.s3_key, version_id=task.s3_version_id or None)
