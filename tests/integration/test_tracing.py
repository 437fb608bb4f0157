"""X-Ray, as in Lambda: the S3 calls made on the writer threads are traced like the rest, inside the handler's
subsegment, and tracing costs no write. (The SDK keeps its current segment per thread; in Lambda a thread left
alone gets the invocation's facade segment.)"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.conftest import ROOT


def s3_calls(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(operation, parent id) of every S3 subsegment in a segment document, nested ones included."""
    calls = []
    if document.get("namespace") == "aws" and document.get("name", "").lower() == "s3":
        calls.append((document["aws"]["operation"], document.get("parent_id", "")))
    for child in document.get("subsegments", []):
        calls += s3_calls(child)
    return calls


def test_every_s3_call_of_an_upload_is_traced_with_writes_on_threads() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.integration.xray_child"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "cannot find the current segment" not in run.stderr.lower(), run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    [outcome] = report["result"]["results"]
    assert outcome["status"] == "processed" and len(outcome["outputs"]) == 6
    calls = [call for document in report["documents"] for call in s3_calls(document)]
    operations = sorted(operation for operation, _ in calls)
    assert operations == ["DeleteObject", "GetObject", "HeadObject"] + ["PutObject"] * 6
    handler = next(document for document in report["documents"] if document.get("name") == "## lambda_handler")
    # every call nests in the handler's subsegment, the writer threads' too (not in the invocation's segment)
    assert {parent for _, parent in calls} == {handler["id"]}
