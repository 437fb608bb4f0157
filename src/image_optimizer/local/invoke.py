"""`make invoke-local`: one event file, run in-process against the embedded S3 (no Docker), with the objects
it names uploaded first so the handler finds them exactly as S3 would have left them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from ..aws import events
from ..aws.storage import make_client
from .run import default_images, embedded_s3, ensure_bucket, invoke, point_sdk_at


def invoke_local(event_path: Path, *, image: Path | None) -> int:
    """`make invoke-local`: the event file, run in-process against the embedded S3 with its objects uploaded."""
    event = json.loads(event_path.read_text())
    image = image or default_images()[0]
    with embedded_s3() as endpoint:
        point_sdk_at(endpoint, embedded=True)
        s3 = make_client("s3", endpoint)
        buckets = stage_event(s3, event, image)
        print(json.dumps(invoke(event), indent=2, default=str))
        for bucket in sorted(buckets):
            listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
            print(f"s3://{bucket} now holds:", ", ".join(obj["Key"] for obj in listing) or "(nothing)")
    return 0


def stage_event(s3: Any, event: dict[str, Any], image: Path) -> set[str]:
    """Upload `image` under every key the event names (any supported shape) and make the event carry each
    object's real ETag and size, as if S3 had just sent it. Returns the buckets involved."""
    buckets: set[str] = set()
    data = image.read_bytes()

    def upload(bucket: str, key: str) -> dict[str, Any]:
        ensure_bucket(s3, bucket)
        buckets.add(bucket)
        response = s3.put_object(Bucket=bucket, Key=key, Body=data)
        return {"etag": response["ETag"].strip('"'), "size": len(data)}

    def stage_s3_records(notification: dict[str, Any]) -> None:
        for record in notification.get("Records", []):
            obj = record["s3"]["object"]
            staged = upload(record["s3"]["bucket"]["name"], unquote_plus(obj["key"]))
            obj.update({"eTag": staged["etag"], "size": staged["size"]})
            obj.pop("versionId", None)

    def stage_eventbridge(message: dict[str, Any]) -> None:
        detail = message["detail"]
        detail["object"].update(upload(detail["bucket"]["name"], unquote_plus(detail["object"]["key"])))
        detail["object"].pop("version-id", None)

    if events.is_batch_operation(event):
        for task in event["tasks"]:
            bucket = task.get("s3Bucket") or task["s3BucketArn"].split(":::")[-1]
            upload(bucket, unquote_plus(task["s3Key"]))
    elif events.is_sqs(event):
        for record in event["Records"]:
            body = json.loads(record["body"])
            if events.is_eventbridge(body):
                stage_eventbridge(body)
            else:
                stage_s3_records(body)
            record["body"] = json.dumps(body)
    elif events.is_eventbridge(event):
        stage_eventbridge(event)
    else:
        stage_s3_records(event)
    return buckets
