"""Poison uploads end in failed/ by themselves: the handler runs in a process of its own (tests/poison/child.py)
against a moto server (S3 and SQS), and dies while decoding one chosen upload of a batch, every time. The test
plays Lambda: the SQS event source (receive, invoke, delete what succeeded; a dead process deletes nothing) or
the asynchronous invoke (two retries, then the failure record to the dead-letter queue, which the dead-letter
consumer reads). After the retries: the chosen upload is in failed/ with its reason, the others of its batch are
processed, nothing is left in incoming/ or in a queue, and nothing is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import PngImagePlugin

from image_optimizer.aws.poison import REASON
from tests.conftest import BUCKET, ROOT, gradient, keys, png_bytes
from tests.integration.test_handler import s3_event
from tests.integration.test_local import moto_server_process

pytestmark = pytest.mark.server
CHILD = Path(__file__).with_name("child.py")
MAX_RECEIVE_COUNT = 3
VISIBILITY_S = 1  # how long a dead invocation's messages stay invisible (6x the timeout in the template)
GOOD = ["incoming/batch/first.png", "incoming/batch/second.png", "incoming/batch/third.png"]
POISON = "incoming/batch/poison.png"


def poison_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("poison", "crash")  # child.py dies while decoding this one
    return png_bytes(gradient(64, 48), pnginfo=info)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with moto_server_process() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield {"endpoint": endpoint, "s3": s3, "sqs": sqs}


def invoke(aws: dict[str, Any], which: str, event: dict[str, Any], death: str, tmp: Path) -> tuple[int, Any]:
    """One invocation in a fresh process (a dead one leaves nothing behind): exit status and answer."""
    path = tmp / f"event-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(event))
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": aws["endpoint"],
        "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
        "PIPELINE_THREADS": "1",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    child = subprocess.run(
        [sys.executable, str(CHILD), which, str(path), death],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    answers = [line[len("RESULT ") :] for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    assert child.returncode in (0, 1) or not answers, child.stderr
    return child.returncode, json.loads(answers[-1]) if answers else None


def upload_batch(s3: Any) -> dict[str, dict[str, Any]]:
    """The good uploads and the poison one; the S3 event of each."""
    uploads = {key: png_bytes(gradient(80 + index * 16, 60)) for index, key in enumerate(GOOD)}
    uploads[POISON] = poison_png()
    ordered = [GOOD[0], POISON, GOOD[1], GOOD[2]]  # the poison one amid the others
    events = {}
    for key in ordered:
        response = s3.put_object(Bucket=BUCKET, Key=key, Body=uploads[key])
        events[key] = s3_event(key, response["ETag"].strip('"'), len(uploads[key]))
    return events


def assert_poison_quarantined_and_the_rest_processed(s3: Any) -> None:
    assert keys(s3, "incoming/") == []
    assert keys(s3, "failed/") == [POISON.replace("incoming/", "failed/")]
    head = s3.head_object(Bucket=BUCKET, Key=POISON.replace("incoming/", "failed/"))
    assert head["Metadata"]["reason"] == REASON
    assert head["Metadata"]["error-kind"] == "poison"
    assert head["ContentLength"] == len(poison_png())  # the upload itself, whole
    for key in GOOD:
        stem = key.removeprefix("incoming/").removesuffix(".png")
        assert f"media/{stem}.jpg" in keys(s3, "media/"), key
        assert f"media/{stem}_thumb.jpg" in keys(s3, "media/"), key


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


def make_queue(sqs: Any, name: str, dead_letters: str | None = None, max_receives: int = 0) -> tuple[str, str]:
    attributes = {"VisibilityTimeout": str(VISIBILITY_S)}
    if dead_letters:
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(aws: dict[str, Any], url: str, arn: str, which: str, death: str, tmp: Path) -> list[int]:
    """Lambda's SQS event source until the queue is empty: every batch invoked, successes deleted. Returns the
    exit status of each invocation."""
    sqs = aws["sqs"]
    statuses = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < VISIBILITY_S * 3:
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = received.get("Messages", [])
        if not messages:
            time.sleep(0.2)
            continue
        status, answer = invoke(aws, which, sqs_event(messages, arn), death, tmp)
        statuses.append(status)
        if status == 0:
            failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
            for message in messages:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        idle_since = time.monotonic()
        assert len(statuses) < 20, "the queue never drains"
    return statuses


def queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


# One way to die per trigger (no Python code runs after either, which is all that matters): SIGKILL is what Lambda
# does on running out of memory, os._exit what a native abort looks like.
@pytest.mark.parametrize("death", ["sigkill"])
def test_sqs_trigger_quarantines_the_poison_upload_on_its_last_receive(aws: Any, death: str, tmp_path: Path) -> None:
    # Given four uploads in one batch, one of which kills the process while it is decoded
    sqs, s3 = aws["sqs"], aws["s3"]
    dlq_url, _ = make_queue(sqs, "dead-letters")
    url, arn = make_queue(sqs, "ingest", dlq_url, MAX_RECEIVE_COUNT)
    for event in upload_batch(s3).values():
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))

    # When the event source delivers them until the queue is empty
    statuses = drain(aws, url, arn, "main", death, tmp_path)

    # Then the process died on every receive but the last, which moved the poison upload undecoded
    assert statuses[0] != 0 and statuses[-1] == 0
    assert len(statuses) == MAX_RECEIVE_COUNT
    assert_poison_quarantined_and_the_rest_processed(s3)
    assert queue_depth(sqs, url) == 0 and queue_depth(sqs, dlq_url) == 0


@pytest.mark.parametrize("death", ["exit"])
def test_s3_trigger_dead_letter_consumer_quarantines_the_poison_upload(aws: Any, death: str, tmp_path: Path) -> None:
    # Given four uploads, each its own asynchronous invocation, one of which kills the process while decoded
    sqs, s3 = aws["sqs"], aws["s3"]
    unresolved_url, _ = make_queue(sqs, "unresolved")
    dlq_url, dlq_arn = make_queue(sqs, "dead-letters", unresolved_url, 3)
    events = upload_batch(s3)

    # When Lambda invokes each event, retries a failed one twice, then sends its failure record to the DLQ
    for event in events.values():
        attempts, status, answer = 0, 1, None
        while status != 0 and attempts < 3:  # the first attempt and two retries
            attempts += 1
            status, answer = invoke(aws, "main", event, death, tmp_path)
        if status != 0:
            assert answer is None, answer  # the process died: no Python code answered
            failure = {
                "version": "1.0",
                "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": attempts},
                "requestPayload": event,
                "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                "responsePayload": {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": "RequestId: 1 Error: Runtime exited with error: signal: killed",
                },
            }
            sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(failure))
    assert queue_depth(sqs, dlq_url) == 1  # the poison upload's record only
    assert keys(s3, "incoming/") == [POISON]

    # And the dead-letter consumer reads the queue
    statuses = drain(aws, dlq_url, dlq_arn, "dead_letters", death, tmp_path)

    # Then the poison upload is in failed/ with its reason, the others processed, every queue empty
    assert statuses == [0]
    assert_poison_quarantined_and_the_rest_processed(s3)
    assert queue_depth(sqs, dlq_url) == 0 and queue_depth(sqs, unresolved_url) == 0
