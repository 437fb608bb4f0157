"""Poison uploads in-process (moto): the last SQS receive, the order a batch is worked in, the dead-letter
consumer's decisions, and stopping before Lambda's timeout. The process-killing runs are in test_kill.py."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from image_optimizer import handler
from image_optimizer.aws import deadline
from image_optimizer.aws.poison import REASON, delivery_order
from image_optimizer.dead_letters import lambda_handler as dead_letter_handler
from image_optimizer.errors import SettingsError
from image_optimizer.imaging import decode
from image_optimizer.settings import load_settings
from tests.conftest import BUCKET, gradient, keys, png_bytes
from tests.integration.test_handler import put, s3_event

MAX = 5  # MAX_RECEIVE_COUNT's default, the template's maxReceiveCount


def sqs_record(event: dict[str, Any], receives: int, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": json.dumps(event),
        "attributes": {"ApproximateReceiveCount": str(receives)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest",
        "awsRegion": "us-east-1",
    }


def failure_record(event: dict[str, Any], error_type: str, message: str, condition: str = "RetriesExhausted") -> str:
    return json.dumps(
        {
            "version": "1.0",
            "requestContext": {"condition": condition, "approximateInvokeCount": 3},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorType": error_type, "errorMessage": message},
        }
    )


@pytest.fixture
def never_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding fails the test's upload (as a transient error): a quarantine must not decode."""

    def load(_decoded: Any) -> Any:
        raise AssertionError("decoded")

    monkeypatch.setattr(decode, "load", load)


# --------------------------------------------------------------------------- Trigger=SQS
def test_last_receive_moves_the_upload_to_failed_without_decoding_it(s3: Any, context: Any, never_decode: None) -> None:
    event = put(s3, "incoming/a/poison.png", png_bytes(gradient(64, 48)))
    response = handler.lambda_handler({"Records": [sqs_record(event, MAX)]}, context)
    assert response["batchItemFailures"] == []
    assert keys(s3) == ["failed/a/poison.png"]
    metadata = s3.head_object(Bucket=BUCKET, Key="failed/a/poison.png")["Metadata"]
    assert metadata["reason"] == REASON and metadata["error-kind"] == "poison"


def test_receives_before_the_last_decode_as_usual(s3: Any, context: Any) -> None:
    event = put(s3, "incoming/a/fine.png", png_bytes(gradient(64, 48)))
    response = handler.lambda_handler({"Records": [sqs_record(event, MAX - 1)]}, context)
    assert response["batchItemFailures"] == []
    assert keys(s3, "media/") == ["media/a/fine.jpg", "media/a/fine_small.jpg", "media/a/fine_thumb.jpg"]
    assert keys(s3, "incoming/") == keys(s3, "failed/") == []


def test_last_receive_of_an_upload_already_processed_or_replaced_moves_nothing(
    s3: Any, context: Any, never_decode: None
) -> None:
    processed = s3_event("incoming/a/gone.png", "0" * 32, 10)  # no such object any more
    stale = put(s3, "incoming/a/again.png", b"first upload")
    newer = put(s3, "incoming/a/again.png", b"the newer upload, with an event of its own")
    records = [sqs_record(processed, MAX, "m-1"), sqs_record(stale, MAX, "m-2")]
    assert handler.lambda_handler({"Records": records}, context)["batchItemFailures"] == []
    assert keys(s3) == ["incoming/a/again.png"]
    assert (
        s3.head_object(Bucket=BUCKET, Key="incoming/a/again.png")["ETag"].strip('"')
        == (newer["Records"][0]["s3"]["object"]["eTag"])
    )


def test_max_receive_count_is_a_validated_setting() -> None:
    assert load_settings({"MAX_RECEIVE_COUNT": "3"}).max_receive_count == 3
    assert load_settings({}).max_receive_count == MAX
    for bad in ("2", "1", "0", "1001", "five"):  # 3 at least: two receives decode before the last
        with pytest.raises(SettingsError, match="MAX_RECEIVE_COUNT"):
            load_settings({"MAX_RECEIVE_COUNT": bad})


@pytest.mark.parametrize("size", [2, 3, 6, 10])
def test_every_other_upload_of_a_batch_is_worked_before_the_poison_one_within_two_receives(size: int) -> None:
    """A crash brings back every unfinished message of the batch with it. Wherever the poison message sits, each
    other one comes before it in one of two successive receives, so it is processed before the last receive."""
    for poison, first_receive in itertools.product(range(size), (1, 2, 3)):
        ids = [f"id-{index:02d}" for index in range(size)]
        ahead: set[str] = set()
        for receive in (first_receive, first_receive + 1):
            records = [{"messageId": i, "attributes": {"ApproximateReceiveCount": str(receive)}} for i in ids]
            order = [record["messageId"] for record in delivery_order(records, MAX)]
            assert sorted(order) == ids
            ahead |= set(order[: order.index(ids[poison])])
        assert ahead == set(ids) - {ids[poison]}, (poison, first_receive)


def test_batch_order_last_receives_first_then_fresh_then_by_receive_count() -> None:
    counts = {"a": 3, "b": 1, "c": MAX, "d": 2, "e": 1}
    records = [{"messageId": i, "attributes": {"ApproximateReceiveCount": str(n)}} for i, n in counts.items()]
    assert [record["messageId"] for record in delivery_order(records, MAX)] == ["c", "b", "e", "d", "a"]


# --------------------------------------------------------------------------- Trigger=S3: the dead-letter consumer
@pytest.mark.parametrize(
    ("error_type", "message"),
    [
        ("Runtime.ExitError", "RequestId: 1 Error: Runtime exited with error: signal: segmentation fault"),
        ("Runtime.OutOfMemory", "RequestId: 1 Error: Runtime exited with error: signal: killed"),
        ("Sandbox.Timedout", "RequestId: 1 Error: Task timed out after 60.00 seconds"),
        ("", "2026-12-06T10:00:00.000Z 1 Task timed out after 60.06 seconds"),
        ("RecordsFailed", "incoming/a/slow.png: OutOfTime: stopped before the function's timeout"),
        ("StoppedEarly", "stopped before the function's timeout; the upload is left for a retry"),
    ],
)
def test_dead_letter_consumer_quarantines_uploads_whose_attempts_died(
    s3: Any, context: Any, error_type: str, message: str
) -> None:
    event = put(s3, "incoming/a/slow.png", png_bytes(gradient(64, 48)))
    body = failure_record(event, error_type, message)
    response = dead_letter_handler({"Records": [{**sqs_record({}, 1), "body": body}]}, context)
    assert response["batchItemFailures"] == []
    assert keys(s3) == ["failed/a/slow.png"]
    assert s3.head_object(Bucket=BUCKET, Key="failed/a/slow.png")["Metadata"]["reason"] == REASON


@pytest.mark.parametrize(
    ("error_type", "message", "condition"),
    [
        ("RecordsFailed", "incoming/a/kept.png: ClientError: An error occurred (SlowDown)", "RetriesExhausted"),
        ("Runtime.ImportModuleError", "Unable to import module 'image_optimizer.handler'", "RetriesExhausted"),
        ("Runtime.ExitError", "Runtime exited with error: signal: killed", "EventAgeExceeded"),
    ],
)
def test_dead_letter_consumer_keeps_records_that_are_not_poison(
    s3: Any, context: Any, error_type: str, message: str, condition: str
) -> None:
    """S3 trouble past every retry, a broken deploy, an event too old to retry: not the upload's fault."""
    event = put(s3, "incoming/a/kept.png", png_bytes(gradient(64, 48)))
    body = failure_record(event, error_type, message, condition)
    good = put(s3, "incoming/a/poison.png", b"x")
    poison_body = failure_record(good, "Runtime.OutOfMemory", "signal: killed")
    records = [{**sqs_record({}, 1, "keep"), "body": body}, {**sqs_record({}, 1, "move"), "body": poison_body}]
    response = dead_letter_handler({"Records": records}, context)
    assert response["batchItemFailures"] == [{"itemIdentifier": "keep"}]
    assert keys(s3) == ["failed/a/poison.png", "incoming/a/kept.png"]


def test_dead_letter_consumer_keeps_a_record_naming_several_uploads(s3: Any, context: Any) -> None:
    first, second = put(s3, "incoming/a/1.png", b"1"), put(s3, "incoming/a/2.png", b"2")
    event = {"Records": first["Records"] + second["Records"]}
    body = failure_record(event, "Runtime.ExitError", "signal: killed")
    poison = failure_record(put(s3, "incoming/a/3.png", b"3"), "Runtime.ExitError", "signal: killed")
    records = [
        {**sqs_record({}, 1, "several"), "body": body},
        {**sqs_record({}, 1, "none"), "body": "[]"},
        {**sqs_record({}, 1, "one"), "body": poison},
    ]
    response = dead_letter_handler({"Records": records}, context)
    assert response["batchItemFailures"] == [{"itemIdentifier": "several"}, {"itemIdentifier": "none"}]
    assert keys(s3) == ["failed/a/3.png", "incoming/a/1.png", "incoming/a/2.png"]


# --------------------------------------------------------------------------- out of time
class ShortContext:
    """3 s left: the reserve (1 s minimum) leaves 2 s of work."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def get_remaining_time_in_millis(self) -> int:
        return 3000


def test_an_upload_still_decoding_at_the_stopping_point_is_interrupted_and_left_for_a_retry(
    s3: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a decode that takes longer than the invocation has (Python steps, as Pillow's decoders take)
    load = decode.load
    started: list[str] = []

    def slow_load(decoded: Any) -> Any:
        started.append("decode")
        until = time.monotonic() + 60  # far past the invocation's time
        while time.monotonic() < until:
            time.sleep(0.01)
        started.append("decoded")
        return load(decoded)

    monkeypatch.setattr(decode, "load", slow_load)
    first = put(s3, "incoming/a/slow.png", png_bytes(gradient(64, 48)))
    second = put(s3, "incoming/a/next.png", png_bytes(gradient(64, 48)))
    event = {"Records": first["Records"] + second["Records"]}

    # When the handler runs with 3 s left (its S3 client made beforehand, as on a warm start)
    handler.get_service()
    with pytest.raises(handler.RecordsFailed, match="OutOfTime") as failure:
        handler.lambda_handler(event, ShortContext(context))

    # Then it stopped at its stopping point: the decode interrupted, the next upload never started, both originals
    # in place for the retry, nothing half-written
    assert started == ["decode"]
    assert "incoming/a/next.png: OutOfTime" in str(failure.value)
    assert keys(s3) == ["incoming/a/next.png", "incoming/a/slow.png"]

    # And the retry, with time enough, finishes both
    monkeypatch.setattr(decode, "load", load)
    handler.lambda_handler(event, context)
    assert keys(s3, "incoming/") == [] and len(keys(s3, "media/")) == 6


def test_the_stopping_point_keeps_a_tenth_of_the_time_within_bounds() -> None:
    assert deadline.reserve_for(60) == 6
    assert deadline.reserve_for(3) == deadline.RESERVE_MIN_S
    assert deadline.reserve_for(900) == deadline.RESERVE_MAX_S


def test_a_stop_outside_any_upload_fails_the_invocation_as_an_ordinary_exception(
    context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted between uploads (say, in the batch machinery), the invocation still fails cleanly: Lambda's
    runtime gets an Exception, not a BaseException it would die on (and report as a crash)."""

    def busy(_event: Any, _context: Any) -> Any:
        until = time.monotonic() + 60
        while time.monotonic() < until:
            time.sleep(0.01)

    monkeypatch.setattr(handler, "dispatch", busy)
    with pytest.raises(deadline.StoppedEarly):
        handler.lambda_handler({"Records": []}, ShortContext(context))


def test_dead_letter_consumer_keeps_the_record_when_the_move_fails(
    s3: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    event = put(s3, "incoming/a/stuck.png", png_bytes(gradient(64, 48)))
    moved = put(s3, "incoming/a/moved.png", png_bytes(gradient(48, 64)))
    storage = handler.get_service().storage
    copy = storage.copy

    def failing_copy(bucket: str, source_key: str, *args: Any, **kwargs: Any) -> None:
        if source_key == "incoming/a/stuck.png":  # S3 refuses, past the SDK's retries
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate"}}, "CopyObject"
            )
        copy(bucket, source_key, *args, **kwargs)

    monkeypatch.setattr(storage, "copy", failing_copy)
    records = [
        {**sqs_record({}, 1, "stuck"), "body": failure_record(event, "Runtime.OutOfMemory", "signal: killed")},
        {**sqs_record({}, 1, "moved"), "body": failure_record(moved, "Runtime.OutOfMemory", "signal: killed")},
    ]
    response = dead_letter_handler({"Records": records}, context)
    assert response["batchItemFailures"] == [{"itemIdentifier": "stuck"}]  # back to the queue, then UnresolvedQueue
    assert keys(s3) == ["failed/a/moved.png", "incoming/a/stuck.png"]
