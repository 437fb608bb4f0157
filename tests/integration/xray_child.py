"""One upload through the handler with X-Ray tracing on, as in Lambda (a trace header, a daemon address), against
moto, on two pipeline threads with a WebP sibling; prints the outcome and every segment document the X-Ray SDK
sent to the (UDP) daemon address. A process of its own: the SDK's recorder and Powertools' Tracer are
process-wide."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
daemon.bind(("127.0.0.1", 0))
os.environ.update(
    {
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "LAMBDA_TASK_ROOT": os.getcwd(),
        "AWS_LAMBDA_FUNCTION_NAME": "image-optimizer-test",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "PIPELINE_THREADS": "2",
        "EXTRA_FORMATS": "webp",
    }
)
os.environ.pop("POWERTOOLS_TRACE_DISABLED", None)

from moto import mock_aws  # noqa: E402

from tests.conftest import BUCKET, FakeContext, gradient, jpeg_bytes  # noqa: E402
from tests.integration.test_handler import put  # noqa: E402

with mock_aws():
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    from image_optimizer import handler

    result: Any = handler.lambda_handler(put(s3, "incoming/traced.jpg", jpeg_bytes(gradient(1200, 800))), FakeContext())
# The SDK sends each document as it closes, before the handler returns: they are all queued at the socket.
daemon.setblocking(False)
received: list[bytes] = []
while True:
    try:
        received.append(daemon.recv(65536))
    except BlockingIOError:
        break
documents = [json.loads(datagram.split(b"\n", 1)[1]) for datagram in received]
print(json.dumps({"result": result, "documents": documents}))
