"""Delivery guarantees through the handler on moto: SQS partial batches, Batch Operations answers, stale writers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from image_optimizer import handler
from image_optimizer.aws import renderer
from image_optimizer.aws.objects import ObjectRef
from image_optimizer.aws.service import ImageService
from tests.conftest import BUCKET, gradient, jpeg_bytes, keys, png_bytes
from tests.integration.test_handler import put, s3_event


def open_fails_for(failing_key: str, error: Exception) -> Any:
    """The service's GetObject raises `error` for one key (a transient S3 failure) and works for the rest."""
    service = handler.get_service()
    real_open = service.storage.open

    def opening(bucket: str, key: str, **kwargs: Any) -> Any:
        if key == failing_key:
            raise error
        return real_open(bucket, key, **kwargs)

    return mock.patch.object(service.storage, "open", side_effect=opening)


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"r{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def test_sqs_batch_reports_only_the_failed_message(s3: Any, context: Any) -> None:
    good = put(s3, "incoming/a.png", png_bytes(gradient(400, 300)))
    bad_image = put(s3, "incoming/b.jpg", b"not an image at all")
    flaky = put(s3, "incoming/c.png", png_bytes(gradient(300, 300)))
    event = sqs_event(json.dumps(good), json.dumps(bad_image), json.dumps(flaky), "{not json")
    with open_fails_for("incoming/c.png", ConnectionError("S3 went away")):
        response = handler.lambda_handler(event, context)
    # The transient failure and the unreadable message come back (then go to the DLQ); the rest succeeded.
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert keys(s3, "media/") == ["media/a.jpg", "media/a_small.jpg", "media/a_thumb.jpg"]
    assert keys(s3, "failed/") == ["failed/b.jpg"]
    assert keys(s3, "incoming/") == ["incoming/c.png"]


COUNTS = {"ImagesProcessed", "ImagesRejected", "ImagesFailed"}


def emitted_metrics(stdout: str) -> dict[str, Any]:
    """The metrics of the embedded-metric-format lines Powertools printed."""
    found: dict[str, Any] = {}
    for line in stdout.splitlines():
        if '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = document[metric["Name"]]
    return found


def batch_event(version: str, *keys_: str) -> dict[str, Any]:
    bucket_field = {"s3Bucket": BUCKET} if version == "2.0" else {"s3BucketArn": f"arn:aws:s3:::{BUCKET}"}
    return {
        "invocationSchemaVersion": version,
        "invocationId": "inv",
        "job": {"id": "job", **({"userArguments": {}} if version == "2.0" else {})},
        "tasks": [
            {"taskId": f"t{index}", "s3Key": key, "s3VersionId": None, **bucket_field}
            for index, key in enumerate(keys_)
        ],
    }


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_batch_operations_answer_per_task(
    version: str, s3: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.put_object(Bucket=BUCKET, Key="incoming/old photo.jpg", Body=jpeg_bytes(gradient(900, 600)))
    s3.put_object(Bucket=BUCKET, Key="incoming/notes.jpg", Body=b"plain text")
    s3.put_object(Bucket=BUCKET, Key="incoming/flaky.jpg", Body=jpeg_bytes(gradient(90, 60)))
    # S3 Batch Operations sends one task per invocation.
    codes, metrics = [], []
    with open_fails_for("incoming/flaky.jpg", TimeoutError("read timed out")):
        for key in ("incoming/old+photo.jpg", "incoming/notes.jpg", "incoming/flaky.jpg", "media/x.jpg"):
            response = handler.lambda_handler(batch_event(version, key), context)
            assert response["invocationSchemaVersion"] == version and response["invocationId"] == "inv"
            assert response["treatMissingKeysAs"] == "PermanentFailure"
            [result] = response["results"]
            codes.append(result["resultCode"])
            metrics.append(emitted_metrics(capsys.readouterr().out))
    assert codes == ["Succeeded", "PermanentFailure", "TemporaryFailure", "Succeeded"]
    # each task counted once, as what it became: the temporary failure too, though the invocation succeeded
    assert [sorted(set(names) & COUNTS) for names in metrics] == [
        ["ImagesProcessed"],
        ["ImagesRejected"],
        ["ImagesFailed"],
        [],
    ]
    assert "media/old photo.jpg" in keys(s3, "media/")
    assert keys(s3, "failed/") == ["failed/notes.jpg"]
    assert keys(s3, "incoming/") == ["incoming/flaky.jpg"]


def with_sequencer(event: dict[str, Any], sequencer: str) -> dict[str, Any]:
    event["Records"][0]["s3"]["object"]["sequencer"] = sequencer
    return event


def test_a_stale_writer_never_overwrites_renditions_of_a_newer_upload(s3: Any, context: Any) -> None:
    # Given upload A read by an invocation that is slow to optimise...
    old_event = with_sequencer(put(s3, "incoming/race.png", png_bytes(gradient(800, 600))), "0055AED6DCD90281E5")
    service = handler.get_service()
    real_optimizer = service.optimizer
    new_bytes = png_bytes(gradient(640, 640))

    def slow_optimizer(data: Any, config: Any) -> Any:
        result = real_optimizer(data, config)
        if service.optimizer is slow_optimizer:  # ...meanwhile the client re-uploads and B is fully processed
            service.optimizer = real_optimizer
            new_event = with_sequencer(put(s3, "incoming/race.png", new_bytes), "0055AED6DCD90281F0")
            handler.lambda_handler(new_event, context)
        return result

    service.optimizer = slow_optimizer
    # When A's invocation then comes to write
    [outcome] = handler.lambda_handler(old_event, context)["results"]
    # Then it backs off: B's renditions stay, and nothing is left to delete
    assert outcome["status"] == "skipped" and "newer upload" in outcome["reason"]
    main = s3.head_object(Bucket=BUCKET, Key="media/race.jpg")
    assert main["Metadata"]["source-sequencer"] == "0055AED6DCD90281F0"
    assert all(
        s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["source-sequencer"] == "0055AED6DCD90281F0"
        for key in keys(s3, "media/")
    )
    assert keys(s3, "incoming/") == []


def test_a_stale_writer_that_looked_before_a_same_second_batch_upload_backs_off(s3: Any, context: Any) -> None:
    """The narrower race: A's run finds A still at its key, and only then is B uploaded and processed by a
    Batch Operations task (no sequencer), in the same LastModified second, so nothing orders the two by metadata.
    A's run must not write over B's renditions: it looks at its key again before overwriting another upload's."""
    service = handler.get_service()
    other = ImageService(service.storage, service.settings)  # the batch task's invocation
    real_still_current = service._still_current
    for attempt in range(5):  # both uploads must land inside one second; try again if they straddle one
        key = f"incoming/window-{attempt}.png"
        while time.time() % 1 > 0.3:
            time.sleep(0.02)
        old_event = with_sequencer(put(s3, key, png_bytes(gradient(400, 300))), "0055AED6DCD90281E5")
        old_modified = s3.head_object(Bucket=BUCKET, Key=key)["LastModified"].isoformat()

        def looked_then_newer_upload(ref: Any, original: Any, key: str = key) -> bool:
            current = real_still_current(ref, original)
            s3.put_object(Bucket=BUCKET, Key=key, Body=png_bytes(gradient(320, 240)))
            assert other.process(ObjectRef(BUCKET, key)).status == "processed"
            return current

        with mock.patch.object(service, "_still_current", side_effect=looked_then_newer_upload):
            [outcome] = handler.lambda_handler(old_event, context)["results"]
        main = s3.head_object(Bucket=BUCKET, Key=key.replace("incoming/", "media/").replace(".png", ".jpg"))
        if main["Metadata"]["source-last-modified"] != old_modified:
            continue  # the two uploads fell in different seconds: metadata alone orders them
        assert outcome["status"] == "skipped" and "newer upload" in outcome["reason"]
        assert main["Metadata"]["source-etag"] != old_event["Records"][0]["s3"]["object"]["eTag"]
        assert "source-sequencer" not in main["Metadata"]  # still the batch task's rendition
        return
    pytest.fail("no two uploads landed in one second in 5 attempts")


def write_all_but_small(s3: Any, context: Any, event: dict[str, Any]) -> None:
    """A first attempt whose `_small` rendition fails to write: the others are written, the original stays."""
    service = handler.get_service()
    real_put = service.storage.put

    def put_failing_on_small(bucket: str, key: str, *args: Any, **kwargs: Any) -> None:
        if key.endswith("_small.jpg"):
            raise ConnectionError("reset")
        real_put(bucket, key, *args, **kwargs)

    with (
        mock.patch.object(service.storage, "put", side_effect=put_failing_on_small),
        pytest.raises(handler.RecordsFailed),
    ):
        handler.lambda_handler(event, context)
    assert keys(s3, "media/") and keys(s3, "incoming/")


def retry_recording_writes(event: dict[str, Any], context: Any) -> list[str]:
    """The retry; the keys it wrote."""
    service = handler.get_service()
    real_put = service.storage.put
    written: list[str] = []

    def recording_put(bucket: str, key: str, *args: Any, **kwargs: Any) -> None:
        real_put(bucket, key, *args, **kwargs)  # a finished rendition's key is taken: its condition fails here
        written.append(key)

    with mock.patch.object(service.storage, "put", side_effect=recording_put):
        handler.lambda_handler(event, context)
    return written


def test_a_retry_after_a_partial_write_does_not_rewrite_finished_renditions(s3: Any, context: Any) -> None:
    event = put(s3, "incoming/part.png", png_bytes(gradient(800, 600)))
    write_all_but_small(s3, context, event)
    first = {key: s3.head_object(Bucket=BUCKET, Key=key)["ETag"] for key in keys(s3, "media/")}
    assert retry_recording_writes(event, context) == ["media/part_small.jpg"]
    assert {key: s3.head_object(Bucket=BUCKET, Key=key)["ETag"] for key in first} == first
    assert keys(s3, "incoming/") == []


def test_a_retry_after_a_deploy_that_changed_the_rendering_code_rewrites_every_rendition(
    s3: Any, context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but a deploy changed the code that renders between the two attempts: the renditions already
    there are the old code's, so the retry rewrites them all rather than leave them beside the new code's."""
    code = tuple(tmp_path / path.name for path in renderer.rendering_files())
    for copy, path in zip(code, renderer.rendering_files(), strict=True):
        copy.write_bytes(path.read_bytes())
    monkeypatch.setattr(renderer, "rendering_files", lambda: code)
    event = put(s3, "incoming/part.png", png_bytes(gradient(800, 600)))
    write_all_but_small(s3, context, event)
    first = {key: s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["pipeline"] for key in keys(s3, "media/")}

    with code[0].open("a") as module:
        module.write("# the next release\n")
    handler.get_service.cache_clear()  # the new release's first process
    written = retry_recording_writes(event, context)
    assert sorted(written) == ["media/part.jpg", "media/part_small.jpg", "media/part_thumb.jpg"]
    now = {key: s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["pipeline"] for key in written}
    assert all(now[key] != first[key] for key in first)
    service = handler.get_service()  # each carries the new code's fingerprint for its own rendition
    names = {"media/part.jpg": "main", "media/part_thumb.jpg": "thumb", "media/part_small.jpg": "small"}
    assert now == {key: service.renditions.fingerprint(name, "jpeg") for key, name in names.items()}
    assert keys(s3, "incoming/") == []


def test_writes_to_media_never_trigger_processing(s3: Any, context: Any) -> None:
    # Recursion guard in code: an event for an output key (as if media/ were wired to the function) is ignored.
    handler.lambda_handler(put(s3, "incoming/loop.png", png_bytes(gradient(300, 200))), context)
    etag = s3.head_object(Bucket=BUCKET, Key="media/loop.jpg")["ETag"].strip('"')
    [outcome] = handler.lambda_handler(s3_event("media/loop.jpg", etag, 100), context)["results"]
    assert outcome["status"] == "ignored"
    assert keys(s3) == ["media/loop.jpg", "media/loop_small.jpg", "media/loop_thumb.jpg"]


def test_names_differing_only_in_extension_both_complete(s3: Any, context: Any) -> None:
    # photo.png and photo.jpg share outputs; sequencers order events of one key only, so neither may strand
    # the other's original in incoming/: the last one processed wins.
    first = with_sequencer(put(s3, "incoming/photo.png", png_bytes(gradient(400, 300))), "0066A0000000000001")
    second = with_sequencer(put(s3, "incoming/photo.jpg", jpeg_bytes(gradient(300, 400))), "0055F0000000000001")
    assert handler.lambda_handler(first, context)["results"][0]["status"] == "processed"
    assert handler.lambda_handler(second, context)["results"][0]["status"] == "processed"
    assert keys(s3, "incoming/") == []
    assert s3.head_object(Bucket=BUCKET, Key="media/photo.jpg")["Metadata"]["source-key"] == "incoming/photo.jpg"


def test_oversized_upload_without_size_in_the_event_is_moved_conditionally(s3: Any, context: Any) -> None:
    # Batch Operations tasks carry neither size nor ETag: the limit is found from GetObject's headers.
    data = jpeg_bytes(gradient(400, 300))
    s3.put_object(Bucket=BUCKET, Key="incoming/big.jpg", Body=data)
    service = handler.get_service()
    copies: list[dict[str, Any]] = []
    real_copy = service.storage.client.copy_object

    def recording_copy(**kwargs: Any) -> Any:
        copies.append(kwargs)
        return real_copy(**kwargs)

    from dataclasses import replace

    with (
        mock.patch.object(service, "settings", replace(service.settings, max_input_bytes=100)),
        mock.patch.object(service.storage.client, "copy_object", side_effect=recording_copy),
    ):
        response = handler.lambda_handler(batch_event("2.0", "incoming/big.jpg"), context)
    assert response["results"][0]["resultCode"] == "PermanentFailure"
    assert keys(s3) == ["failed/big.jpg"]
    assert copies and copies[0]["CopySourceIfMatch"].strip('"') == s3.head_object(Bucket=BUCKET, Key="failed/big.jpg")[
        "ETag"
    ].strip('"')


def test_a_late_event_for_a_replaced_version_publishes_nothing(s3: Any, context: Any) -> None:
    # Versioned bucket: A (good) is replaced by B (not an image); B is quarantined; A's late event can still read
    # A by version id, but A is no longer the object at its key, so it must not create renditions.
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    a = s3.put_object(Bucket=BUCKET, Key="incoming/p.png", Body=png_bytes(gradient(400, 300)))
    b = s3.put_object(Bucket=BUCKET, Key="incoming/p.png", Body=b"not an image")

    def event(response: dict[str, Any], sequencer: str) -> dict[str, Any]:
        built = with_sequencer(s3_event("incoming/p.png", response["ETag"].strip('"'), 100), sequencer)
        built["Records"][0]["s3"]["object"]["versionId"] = response["VersionId"]
        return built

    assert handler.lambda_handler(event(b, "02"), context)["results"][0]["status"] == "rejected"
    late = handler.lambda_handler(event(a, "01"), context)["results"][0]
    assert late["status"] == "skipped"
    assert keys(s3, "media/") == []
    assert keys(s3, "failed/") == ["failed/p.png"]
