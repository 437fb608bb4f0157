"""Every S3 call the service makes is one the template's role allows (tests/policy.py, which the template test
holds the role to): moto grants everything, so a call outside the role would pass every other test here and
fail only in AWS (HeadObject without s3:GetObject on its prefix is a 403, not a 404)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from image_optimizer import handler
from image_optimizer.settings import load_settings
from tests.conftest import BUCKET, gradient, png_bytes
from tests.integration.test_handler import put, s3_event
from tests.policy import ALLOWED_OBJECT_GRANTS, DEAD_LETTER_OBJECT_GRANTS

PREFIXES = {
    "incoming/": "IncomingPrefix",
    "media/": "OutputPrefix",
    "failed/": "FailedPrefix",
    "originals/": "ArchivePrefix",
}


def grants_needed(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(IAM action, object key) pairs an S3 call needs: a versioned read or delete needs its Version action too."""
    versioned = "VersionId" in params
    if operation == "ListObjectsV2":  # s3:ListBucket on the bucket, which the role holds unconditioned
        return []
    if operation == "CopyObject":
        source = params["CopySource"]
        read = ["s3:GetObject"] + (["s3:GetObjectVersion"] if "VersionId" in source else [])
        write = ["s3:PutObject"]
        if params.get("TaggingDirective") != "REPLACE":  # COPY, the default, copies the tags too
            read += ["s3:GetObjectVersionTagging" if "VersionId" in source else "s3:GetObjectTagging"]
            write += ["s3:PutObjectTagging"]
        return [(action, source["Key"]) for action in read] + [(action, params["Key"]) for action in write]
    actions = {
        "GetObject": ["s3:GetObject"] + (["s3:GetObjectVersion"] if versioned else []),
        "HeadObject": ["s3:GetObject"] + (["s3:GetObjectVersion"] if versioned else []),
        "PutObject": ["s3:PutObject"],
        "DeleteObject": ["s3:DeleteObject"] + (["s3:DeleteObjectVersion"] if versioned else []),
    }[operation]
    return [(action, params["Key"]) for action in actions]


def record_calls(calls: list[tuple[str, dict[str, Any]]] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every S3 call the handler's current service makes from now on, appended to `calls`."""
    calls = [] if calls is None else calls
    client = handler.get_service().storage.client
    client.meta.events.register(
        "provide-client-params.s3.*", lambda params, model, **_: calls.append((model.name, dict(params)))
    )
    return calls


def assert_granted(
    calls: list[tuple[str, dict[str, Any]]], grants: dict[str, set[str]] = ALLOWED_OBJECT_GRANTS
) -> None:
    for operation, params in calls:
        for action, key in grants_needed(operation, params):
            prefix = next(PREFIXES[p] for p in PREFIXES if key.startswith(p))
            assert action in grants.get(prefix, set()), f"{operation} {key}: {action} not granted on {prefix}"


def test_every_s3_call_of_every_path_is_inside_the_roles_grants(s3: Any, context: Any) -> None:
    calls = record_calls()

    def run(event: dict[str, Any]) -> None:
        handler.lambda_handler(event, context)

    image = png_bytes(gradient(300, 200))
    processed = put(s3, "incoming/ok.png", image)
    run(processed)
    run(processed)  # again: the original is gone
    rewritten = put(s3, "incoming/ok.png", image)
    run(rewritten)  # renditions already there: looked at, then written over
    tagged = s3.put_object(Bucket=BUCKET, Key="incoming/bad.jpg", Body=b"text", Tagging="from=site")
    run(s3_event("incoming/bad.jpg", tagged["ETag"].strip('"'), 4))  # rejected; its tags stay behind
    assert s3.get_object_tagging(Bucket=BUCKET, Key="failed/bad.jpg")["TagSet"] == []
    run(put(s3, "incoming/bad.jpg", b"more text"))  # a rejected upload already in failed/: looked at, beside it
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    response = s3.put_object(Bucket=BUCKET, Key="incoming/v.png", Body=image)
    versioned = s3_event("incoming/v.png", response["ETag"].strip('"'), len(image))
    versioned["Records"][0]["s3"]["object"]["versionId"] = response["VersionId"]
    run(versioned)
    run(versioned)  # the old version read again, its renditions found

    operations = {operation for operation, _ in calls}
    assert {"GetObject", "HeadObject", "PutObject", "DeleteObject", "CopyObject"} <= operations
    assert_granted(calls)


def test_poison_upload_paths_stay_inside_each_roles_grants(s3: Any, context: Any) -> None:
    """Trigger=SQS: the last receive moves the upload with the function's role. Trigger=S3: the dead-letter
    consumer moves it with a role of its own (tests/policy.py), on an unversioned and a versioned bucket."""
    from image_optimizer.dead_letters import lambda_handler as dead_letter_handler
    from tests.poison.test_poison import MAX, failure_record, sqs_record

    calls = record_calls()
    image = png_bytes(gradient(64, 48))
    last = sqs_record(put(s3, "incoming/p1.png", image), MAX)
    handler.lambda_handler({"Records": [last]}, context)
    other = png_bytes(gradient(48, 64))  # another upload of the same key: beside the first one in failed/
    handler.lambda_handler({"Records": [sqs_record(put(s3, "incoming/p1.png", other), MAX)]}, context)
    assert {"HeadObject", "CopyObject", "DeleteObject"} <= {operation for operation, _ in calls}
    assert_granted(calls, ALLOWED_OBJECT_GRANTS)

    calls.clear()

    def dead_letter(event: dict[str, Any]) -> None:
        body = failure_record(event, "Runtime.ExitError", "signal: killed")
        assert (
            dead_letter_handler({"Records": [{**sqs_record({}, 1), "body": body}]}, context)["batchItemFailures"] == []
        )

    dead_letter(put(s3, "incoming/p2.png", image))
    dead_letter(put(s3, "incoming/p2.png", other))  # a poison upload already in failed/: looked at, beside it
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    response = s3.put_object(Bucket=BUCKET, Key="incoming/p3.png", Body=image)
    versioned = s3_event("incoming/p3.png", response["ETag"].strip('"'), len(image))
    versioned["Records"][0]["s3"]["object"]["versionId"] = response["VersionId"]
    dead_letter(versioned)
    dead_letter(versioned)  # again: gone from its key, nothing moved twice
    assert len([key for key in keys_of(s3, "failed/") if key.startswith("failed/p")]) == 5
    assert {"HeadObject", "CopyObject", "DeleteObject"} <= {operation for operation, _ in calls}
    assert any("VersionId" in params.get("CopySource", {}) for _, params in calls)
    assert_granted(calls, DEAD_LETTER_OBJECT_GRANTS)


def keys_of(client: Any, prefix: str) -> list[str]:
    return [obj["Key"] for obj in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_the_archive_and_rerender_paths_stay_inside_the_roles_grants(
    s3: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ARCHIVE_PREFIX: the copy and its checks, a retry finding its copy, a stale run meeting a newer copy,
    and a Batch Operations re-render task (reads the archive, writes renditions)."""
    monkeypatch.setattr(handler, "settings", load_settings({"ARCHIVE_PREFIX": "originals/"}))
    handler.get_service.cache_clear()
    calls = record_calls()

    def run(event: dict[str, Any]) -> None:
        handler.lambda_handler(event, context)

    image = png_bytes(gradient(300, 200))
    processed = put(s3, "incoming/ok.png", image)
    run(processed)  # archived, then deleted
    run(put(s3, "incoming/ok.png", png_bytes(gradient(320, 200))))  # a new upload: its copy replaces the old one
    retried = put(s3, "incoming/r.png", image)
    failing = mock.patch.object(handler.get_service().storage, "delete", side_effect=RuntimeError("boom"))
    with failing, pytest.raises(handler.RecordsFailed):
        run(retried)
    run(retried)  # the retry finds its own copy
    monkeypatch.setattr(
        handler, "settings", load_settings({"ARCHIVE_PREFIX": "originals/", "THUMBNAILS": "x:60x60:crop"})
    )
    handler.get_service.cache_clear()
    record_calls(calls)
    task = {"taskId": "t", "s3Key": "originals/ok.png", "s3VersionId": None, "s3Bucket": BUCKET}
    batch = {"invocationSchemaVersion": "2.0", "invocationId": "i", "job": {"id": "j"}, "tasks": [task]}
    [result] = handler.lambda_handler(batch, context)["results"]
    assert result["resultCode"] == "Succeeded", result

    operations = {(operation, params.get("Key", "")[:9]) for operation, params in calls}
    assert {("CopyObject", "originals"), ("HeadObject", "originals"), ("GetObject", "originals")} <= operations
    assert_granted(calls)
