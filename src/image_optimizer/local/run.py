"""`make run`: the whole flow on this machine. An embedded S3 (moto's server) sends `incoming/` events to a
queue; each event is handed to `lambda_handler` exactly as Lambda would hand it over."""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from ..aws.storage import make_client
from ..settings import Settings, load_settings
from . import USAGE_ERROR

SAMPLES_DIR = Path(__file__).resolve().parents[3] / "samples"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif", ".hif", ".avif"}
QUEUE_NAME = "image-optimizer-events"
REGION = "us-east-1"


@dataclass
class FakeContext:
    """What the handler reads from Lambda's context object."""

    function_name: str = "image-optimizer-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:image-optimizer-local"
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/image-optimizer-local"
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class PortInUse(OSError):
    """The embedded server's fixed port is taken."""


def port_taken(port: int) -> bool:
    """Can nothing listen on 127.0.0.1:`port` now? (Bound as the server binds it: address reuse on.)"""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@contextmanager
def embedded_s3(port: int = 0) -> Iterator[str]:
    """moto's S3/SQS server in this process on 127.0.0.1: no Docker, no AWS account. A fixed `port` that is taken
    raises PortInUse (moto's server thread would print it and the start would wait for ever)."""
    if port and port_taken(port):
        raise PortInUse(
            f"port {port} on 127.0.0.1 is in use (another `make run ARGS=--watch`?): stop it or pass --port"
        )
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per HTTP request drowns the table
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.stop()


def point_sdk_at(endpoint: str, *, embedded: bool) -> None:
    """Lambda's environment, as the handler will read it: the endpoint, a region and credentials. The embedded
    emulator gets fixed dummy ones (it accepts any), so real keys from the shell are never used or printed."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    # Another server gets the shell's credentials if any, else dummy ones (moto and many emulators accept them).
    dummies = {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    for name, value in dummies.items():
        os.environ[name] = value if embedded else os.environ.get(name, value)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


def default_images() -> list[Path]:
    return sorted(path for path in SAMPLES_DIR.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)


def ensure_bucket(s3: Any, bucket: str) -> None:
    existing = {entry["Name"] for entry in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)


def subscribe_queue(s3: Any, sqs: Any, bucket: str, prefix: str) -> str:
    """Bucket notification: ObjectCreated under the prefix -> an SQS queue we poll (as Lambda's S3 trigger)."""
    queue_url: str = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
    return queue_url


class QueueEvents:
    """Events as the embedded S3 emits them."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs, self.queue_url = sqs, queue_url

    def poll(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        batch = []
        for message in response.get("Messages", []):
            batch.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return batch


class ListingEvents:
    """For servers without S3 notifications: list `incoming/` and build the event S3 would have sent."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.attempts: dict[tuple[str, str], int] = {}

    def poll(self) -> list[dict[str, Any]]:
        time.sleep(0.5)
        batch = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                seen = (obj["Key"], obj["ETag"])
                self.attempts[seen] = self.attempts.get(seen, 0) + 1
                if self.attempts[seen] <= 3:  # like Lambda's retries of a failed asynchronous invocation
                    batch.append(s3_event(self.bucket, obj["Key"], obj["ETag"].strip('"'), obj["Size"]))
        return batch


def s3_event(bucket: str, key: str, etag: str, size: int) -> dict[str, Any]:
    """An ObjectCreated:Put notification, shaped and URL-encoded as S3 sends it."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "local",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
                },
            }
        ]
    }


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    from ..handler import lambda_handler

    result: dict[str, Any] = lambda_handler(event, FakeContext())
    return result


def run_event_loop(source: QueueEvents | ListingEvents, pending: set[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Invoke the handler per event until every pending key has reached an end state (or the time is up)."""
    finished: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while (pending - finished.keys()) and time.monotonic() < deadline:
        for event in source.poll():
            for result in invoke_safely(event):
                if result.get("status") in ("processed", "rejected"):
                    finished[result["key"]] = result
    return finished


def invoke_safely(event: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        return list(invoke(event)["results"])
    except Exception as error:  # the invocation failed; Lambda would retry it
        print(f"invocation failed ({type(error).__name__}: {error}); the original stays in incoming/", file=sys.stderr)
        return []


def download_outputs(s3: Any, bucket: str, settings: Settings, out: Path) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=settings.output_prefix):
        for obj in page.get("Contents", []):
            target = out / obj["Key"][len(settings.output_prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())


def print_table(uploads: dict[str, Path], finished: dict[str, dict[str, Any]]) -> None:
    header = f"{'input':28} {'status':9} {'outputs':52} {'main':>9} {'bytes before -> after':>22} {'time':>7}"
    print(header)
    print("-" * len(header))
    for key, path in uploads.items():
        result = finished.get(key)
        before = path.stat().st_size
        if result is None:
            print(f"{path.name:28} {'pending':9} (no end state reached)")
        elif result["status"] == "rejected":
            print(f"{path.name:28} {'rejected':9} {result['reason']}")
        else:
            outputs = result["outputs"]
            names = outputs[0]["key"] + (
                f" (+{', '.join(output['name'] for output in outputs[1:])})" if outputs[1:] else ""
            )
            main = f"{outputs[0]['width']}x{outputs[0]['height']}"
            after = sum(output["bytes"] for output in outputs)
            sizes = f"{before:,} -> {after:,}"
            print(f"{path.name:28} {'processed':9} {names:52} {main:>9} {sizes:>22} {result['duration_ms']:>5.0f}ms")


def run(images: list[Path], *, watch: bool, endpoint_url: str | None, bucket: str, port: int | None, out: Path) -> int:
    settings = load_settings()
    images = images or default_images()
    missing = [str(path) for path in images if not path.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return USAGE_ERROR
    if endpoint_url:
        return _run_against(endpoint_url, images, settings, watch=watch, bucket=bucket, out=out, embedded=False)
    try:
        with embedded_s3(port if port is not None else (9000 if watch else 0)) as endpoint:
            return _run_against(endpoint, images, settings, watch=watch, bucket=bucket, out=out, embedded=True)
    except PortInUse as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR


def _run_against(
    endpoint: str, images: list[Path], settings: Settings, *, watch: bool, bucket: str, out: Path, embedded: bool
) -> int:
    point_sdk_at(endpoint, embedded=embedded)
    s3, sqs = make_client("s3", endpoint), make_client("sqs", endpoint)
    ensure_bucket(s3, bucket)
    source: QueueEvents | ListingEvents
    if embedded:
        source = QueueEvents(sqs, subscribe_queue(s3, sqs, bucket, settings.incoming_prefix))
    else:
        source = ListingEvents(s3, bucket, settings.incoming_prefix)
    uploads: dict[str, Path] = {}
    for path in images:
        key = settings.incoming_prefix + path.name
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        uploads[key] = path
    finished = run_event_loop(source, set(uploads), timeout=120)
    download_outputs(s3, bucket, settings, out)
    print_table(uploads, finished)
    print(f"\n{len(finished)}/{len(uploads)} uploads reached an end state; renditions downloaded to {out}/")
    if watch:
        _watch(endpoint, bucket, source, settings, out, s3, embedded=embedded)
    ok = all(finished.get(key, {}).get("status") == "processed" for key in uploads)
    return 0 if ok else 1


def _watch(
    endpoint: str,
    bucket: str,
    source: QueueEvents | ListingEvents,
    settings: Settings,
    out: Path,
    s3: Any,
    *,
    embedded: bool,
) -> None:
    credentials = (
        f"  export AWS_ACCESS_KEY_ID={os.environ['AWS_ACCESS_KEY_ID']}\n"
        f"  export AWS_SECRET_ACCESS_KEY={os.environ['AWS_SECRET_ACCESS_KEY']}\n"
        if embedded
        else "  (and that server's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)\n"
    )
    print(
        "\nWatching for uploads (Ctrl-C to stop). Environment for a Django dev server:\n"
        f"  export AWS_S3_ENDPOINT_URL={endpoint}\n"
        f"  export AWS_STORAGE_BUCKET_NAME={bucket}\n"
        f"{credentials}"
        f"  export AWS_S3_REGION_NAME={os.environ['AWS_DEFAULT_REGION']}\n",
        flush=True,
    )
    try:
        while True:
            for event in source.poll():
                for result in invoke_safely(event):
                    if result.get("status") in ("processed", "rejected"):
                        print(f"{result['status']}: {result['key']} {result.get('reason', '')}", flush=True)
                        download_outputs(s3, bucket, settings, out)
    except KeyboardInterrupt:
        print("stopped")
