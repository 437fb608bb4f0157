"""The real handler and the real conditional requests against a real S3 implementation: SeaweedFS (`weed mini`).

Part 1 probes, with boto3 directly, every conditional request the service relies on (storage.py) and records what
this SeaweedFS does. Part 2 runs `handler.lambda_handler` on S3-shaped events (image_optimizer.local.run.s3_event) for
uploads to SeaweedFS. Part 3 runs `python -m image_optimizer run --endpoint-url` against it as a subprocess.
Differences from moto and AWS are summarised in docs/s3-differences.md.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from PIL import Image

from image_optimizer import handler
from image_optimizer.aws.provenance import metadata_value
from image_optimizer.local.run import s3_event
from image_optimizer.specs import output_key
from tests.conftest import SAMPLES_DIR, FakeContext, gradient, jpeg_bytes, png_bytes, run_module
from tests.seaweedfs.conftest import SeaweedS3

pytestmark = pytest.mark.server

RENDITIONS = ("main", "thumb", "small")
SAMPLES = sorted(path for path in SAMPLES_DIR.iterdir() if path.suffix.lower() in {".jpg", ".png", ".webp", ".heic"})
WRONG_ETAG = '"00000000000000000000000000000000"'


# ---------------------------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def s3(seaweedfs: SeaweedS3) -> Any:
    return seaweedfs.client()


def empty(s3: Any, bucket: str) -> None:
    """Delete every object, version and delete marker."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    for key in keys(s3, bucket):  # anything a listing of versions did not show
        s3.delete_object(Bucket=bucket, Key=key)
    assert keys(s3, bucket) == []


# Each SeaweedFS bucket is a collection that reserves volumes of its own, so a bucket per test would exhaust the
# volume server: two buckets serve the whole session and are emptied before each test instead.
@pytest.fixture(scope="module")
def buckets(s3: Any) -> dict[str, str]:
    names = {"plain": f"io-plain-{uuid.uuid4().hex[:8]}", "versioned": f"io-versioned-{uuid.uuid4().hex[:8]}"}
    for name in names.values():
        s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=names["versioned"], VersioningConfiguration={"Status": "Enabled"})
    return names


@pytest.fixture
def bucket(s3: Any, buckets: dict[str, str]) -> str:
    """An empty, unversioned bucket."""
    empty(s3, buckets["plain"])
    return buckets["plain"]


@pytest.fixture
def versioned_bucket(s3: Any, buckets: dict[str, str]) -> str:
    """An empty bucket with versioning enabled."""
    empty(s3, buckets["versioned"])
    return buckets["versioned"]


@pytest.fixture
def lambda_env(seaweedfs: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lambda's environment pointed at SeaweedFS; the handler's cached service is rebuilt on both sides."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweedfs.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", seaweedfs.region)
    # tests/conftest.py sets dummy session tokens for moto; SeaweedFS would try to validate them as STS tokens.
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    handler.get_service.cache_clear()
    yield
    handler.get_service.cache_clear()


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"].get("Code", ""), response["ResponseMetadata"]["HTTPStatusCode"]


def body(s3: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [obj["Key"] for obj in page.get("Contents", [])]
    return sorted(found)


def rendition_keys(source_key: str) -> list[str]:
    return sorted(
        output_key(source_key, name, incoming_prefix="incoming/", output_prefix="media/") for name in RENDITIONS
    )


def upload(s3: Any, bucket: str, key: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """Put the object and return the notification S3 would send for it (version and sequencer when given)."""
    response = s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)
    event = s3_event(bucket, key, response["ETag"].strip('"'), len(data))
    if response.get("VersionId"):
        event["Records"][0]["s3"]["object"]["versionId"] = response["VersionId"]
    return event


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    [result] = handler.lambda_handler(event, FakeContext())["results"]
    return dict(result)


def etags(s3: Any, bucket: str, prefix: str = "media/") -> dict[str, str]:
    return {key: s3.head_object(Bucket=bucket, Key=key)["ETag"] for key in keys(s3, bucket, prefix)}


def stamps(s3: Any, bucket: str, prefix: str = "media/") -> dict[str, tuple[str, Any]]:
    """ETag and LastModified of each object: identical bytes rewritten keep the ETag but not LastModified."""
    heads = {key: s3.head_object(Bucket=bucket, Key=key) for key in keys(s3, bucket, prefix)}
    return {key: (head["ETag"], head["LastModified"]) for key, head in heads.items()}


# ---------------------------------------------------------------------------------------------------------------
# Part 1: the conditional requests storage.py sends, probed directly


def test_server_is_the_pinned_seaweedfs(seaweedfs: SeaweedS3) -> None:
    assert "4.48" in seaweedfs.version
    assert seaweedfs.endpoint.startswith("http://127.0.0.1:")


def test_wrong_credentials_are_refused(seaweedfs: SeaweedS3) -> None:
    import boto3

    stranger = boto3.client(
        "s3", endpoint_url=seaweedfs.endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    assert error_of(stranger.list_buckets) == ("InvalidAccessKeyId", 403)


def test_get_if_match(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag.strip('"'))["ETag"] == etag  # unquoted also matches
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="k", IfMatch=WRONG_ETAG)) == ("PreconditionFailed", 412)
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="absent")) == ("NoSuchKey", 404)
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="absent")) == ("404", 404)  # HEAD has no body


def test_put_if_none_match_star(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*")) == (
        "PreconditionFailed",
        412,
    )
    assert body(s3, bucket, "k") == b"one"
    s3.put_object(Bucket=bucket, Key="free", Body=b"new", IfNoneMatch="*")
    assert body(s3, bucket, "free") == b"new"


def test_put_if_match(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=WRONG_ETAG)) == (
        "PreconditionFailed",
        412,
    )
    assert body(s3, bucket, "k") == b"one"
    s3.put_object(Bucket=bucket, Key="k", Body=b"three", IfMatch=etag)
    assert body(s3, bucket, "k") == b"three"


def test_seaweedfs_put_if_match_on_a_missing_key_is_412_not_404(s3: Any, bucket: str) -> None:
    """AWS documents 404 NoSuchKey here; SeaweedFS answers 412. The service reads both as "lost the race":
    on SeaweedFS _write_one re-decides (HEAD finds nothing, then IfNoneMatch="*"); on AWS the 404 becomes
    ObjectGone, which _write_one does not catch, so the invocation fails and is retried later."""
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=WRONG_ETAG)) == (
        "PreconditionFailed",
        412,
    )
    assert keys(s3, bucket) == []


def test_delete_if_match(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    assert error_of(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch=WRONG_ETAG)) == (
        "PreconditionFailed",
        412,
    )
    assert keys(s3, bucket) == ["k"]  # honoured: the object survives
    assert s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert keys(s3, bucket) == []


def test_seaweedfs_delete_if_match_on_a_missing_key_is_412(s3: Any, bucket: str) -> None:
    """The service treats ObjectChanged and ObjectGone alike after a delete, so this is harmless for it."""
    assert error_of(lambda: s3.delete_object(Bucket=bucket, Key="absent", IfMatch=WRONG_ETAG)) == (
        "PreconditionFailed",
        412,
    )


def test_copy_source_if_match_with_replaced_metadata(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"one", Metadata={"old": "1"})["ETag"]

    def copy(condition: str) -> Any:
        return s3.copy_object(
            Bucket=bucket,
            Key="dst",
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceIfMatch=condition,
            MetadataDirective="REPLACE",
            Metadata={"reason": "why"},
        )

    assert error_of(lambda: copy(WRONG_ETAG)) == ("PreconditionFailed", 412)
    assert keys(s3, bucket) == ["src"]
    copy(etag)
    assert body(s3, bucket, "dst") == b"one"
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"reason": "why"}


def test_seaweedfs_copy_object_result_etag_is_unquoted(s3: Any, bucket: str) -> None:
    """AWS and moto quote it; the service ignores CopyObject's result, so nothing depends on this."""
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"one")["ETag"]
    result = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert result["CopyObjectResult"]["ETag"] == etag.strip('"')
    assert s3.head_object(Bucket=bucket, Key="dst")["ETag"] == etag  # HEAD/GET/PUT/List quote it


def test_versioning_get_copy_and_delete_by_version_id(s3: Any, versioned_bucket: str) -> None:
    bucket = versioned_bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"v2")
    assert first["VersionId"] and second["VersionId"] and first["VersionId"] != second["VersionId"]
    old = s3.get_object(Bucket=bucket, Key="k", VersionId=first["VersionId"])
    assert old["Body"].read() == b"v1" and old["VersionId"] == first["VersionId"]
    # IfMatch is checked against the version asked for
    assert error_of(
        lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=first["VersionId"], IfMatch=second["ETag"])
    ) == ("PreconditionFailed", 412)
    s3.copy_object(
        Bucket=bucket,
        Key="copy",
        CopySource={"Bucket": bucket, "Key": "k", "VersionId": first["VersionId"]},
        MetadataDirective="REPLACE",
        Metadata={"a": "b"},
    )
    assert body(s3, bucket, "copy") == b"v1"
    # Deleting the latest version by id removes it for good, and the previous version becomes current again.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=second["VersionId"])
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=second["VersionId"])) == (
        "NoSuchVersion",
        404,
    )
    assert body(s3, bucket, "k") == b"v1"


def test_user_metadata_is_ascii_only_and_round_trips_percent_encoded(s3: Any, bucket: str) -> None:
    with pytest.raises(ParamValidationError):  # refused by botocore before any request is sent
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"reason": "Ünï"})
    value = metadata_value("incoming/summer holiday/Ünïcødé + plus.v2.jpg")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"source-key": value})
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"source-key": value}


def test_seaweedfs_has_no_s3_bucket_notifications(s3: Any, bucket: str) -> None:
    """PUT ?notification is routed like CreateBucket (409 BucketAlreadyOwnedByYou) and nothing is stored: no S3
    events come from SeaweedFS, which is why `run --endpoint-url` lists incoming/ and these tests build the events."""
    configuration = {
        "QueueConfigurations": [
            {"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q", "Events": ["s3:ObjectCreated:*"]},
        ]
    }
    assert error_of(
        lambda: s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
    ) == ("BucketAlreadyOwnedByYou", 409)
    stored = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not stored.get("QueueConfigurations") and not stored.get("LambdaFunctionConfigurations")


# ---------------------------------------------------------------------------------------------------------------
# Part 2: the Lambda handler end to end


def assert_renditions(s3: Any, bucket: str, source_key: str, source_etag: str) -> None:
    assert keys(s3, bucket, "media/") == rendition_keys(source_key)
    for key in rendition_keys(source_key):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "image/jpeg"
        assert head["CacheControl"] == "public, max-age=86400"
        assert head["Metadata"]["source-key"] == metadata_value(source_key)
        assert head["Metadata"]["source-key"].isascii()
        assert head["Metadata"]["source-etag"] == source_etag
        image = Image.open(io.BytesIO(body(s3, bucket, key)))
        assert image.format == "JPEG"
        assert image.width <= 750


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.name)
def test_sample_upload_becomes_renditions_and_the_original_goes(
    s3: Any, bucket: str, lambda_env: None, sample: Path
) -> None:
    key = f"incoming/samples/{sample.name}"
    event = upload(s3, bucket, key, sample.read_bytes())
    result = invoke(event)
    assert result["status"] == "processed", result
    assert_renditions(s3, bucket, key, event["Records"][0]["s3"]["object"]["eTag"])
    assert keys(s3, bucket, "incoming/") == []


AWKWARD_KEYS = [
    "incoming/summer holiday/Ünïcødé + plus.v2.png",
    "incoming/a+b c%20d.jpg",
    "incoming/several.dots.in.the.name.png",
    "incoming/日本語/写真 1.jpg",
]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_awkward_keys(s3: Any, bucket: str, lambda_env: None, key: str) -> None:
    image = gradient(900, 600)
    data = png_bytes(image) if key.endswith(".png") else jpeg_bytes(image)
    event = upload(s3, bucket, key, data)
    assert "+" in event["Records"][0]["s3"]["object"]["key"] or " " not in key  # spaces arrive as `+`
    result = invoke(event)
    assert result["status"] == "processed", result
    assert_renditions(s3, bucket, key, event["Records"][0]["s3"]["object"]["eTag"])
    assert keys(s3, bucket, "incoming/") == []


def test_text_file_moves_to_failed_with_the_reason(s3: Any, bucket: str, lambda_env: None) -> None:
    text = b"A text file: spoofed!\n"
    event = upload(s3, bucket, "incoming/docs/notes +1.jpg", text, ContentType="image/jpeg")
    result = invoke(event)
    assert result["status"] == "rejected" and result["error_kind"] == "unsupported_format", result
    assert keys(s3, bucket) == ["failed/docs/notes +1.jpg"]
    moved = s3.get_object(Bucket=bucket, Key="failed/docs/notes +1.jpg")
    assert moved["Body"].read() == text
    assert moved["Metadata"]["error-kind"] == "unsupported_format"
    assert "text" in moved["Metadata"]["reason"]
    assert moved["Metadata"]["source-key"] == metadata_value("incoming/docs/notes +1.jpg")


def test_duplicate_event_is_a_no_op(s3: Any, bucket: str, lambda_env: None) -> None:
    event = upload(s3, bucket, "incoming/dup.png", png_bytes(gradient(800, 600)))
    assert invoke(event)["status"] == "processed"
    before = stamps(s3, bucket)
    time.sleep(1.1)  # so that a rewrite of identical bytes would show in LastModified
    again = invoke(event)
    assert again["status"] == "skipped", again
    assert stamps(s3, bucket) == before


def test_reupload_of_identical_bytes_does_not_rewrite_renditions(s3: Any, bucket: str, lambda_env: None) -> None:
    """Same bytes again: same ETag, so judge() says SAME for every rendition; only the original is deleted."""
    key = "incoming/again.png"
    data = png_bytes(gradient(800, 600))
    assert invoke(upload(s3, bucket, key, data))["status"] == "processed"
    before = stamps(s3, bucket)
    time.sleep(1.1)  # a rewrite would now show in LastModified even though the bytes (and ETag) are identical
    again = invoke(upload(s3, bucket, key, data))
    assert again["status"] == "processed", again
    assert keys(s3, bucket, "incoming/") == []
    assert stamps(s3, bucket) == before


def test_stale_event_after_reupload_leaves_the_newer_original(s3: Any, bucket: str, lambda_env: None) -> None:
    key = "incoming/re.png"
    old_event = upload(s3, bucket, key, png_bytes(gradient(800, 600)))
    new_event = upload(s3, bucket, key, png_bytes(gradient(640, 480)))  # re-upload before the first event ran
    newer = body(s3, bucket, key)
    stale = invoke(old_event)
    assert stale["status"] == "skipped" and "stale" in stale["reason"], stale
    assert keys(s3, bucket) == [key] and body(s3, bucket, key) == newer  # GetObject IfMatch refused the old ETag
    assert invoke(new_event)["status"] == "processed"
    assert_renditions(s3, bucket, key, new_event["Records"][0]["s3"]["object"]["eTag"])
    after = etags(s3, bucket)
    assert invoke(old_event)["status"] == "skipped"  # late again: the key is empty now
    assert etags(s3, bucket) == after


def test_stale_event_does_not_overwrite_newer_renditions_in_a_versioned_bucket(
    s3: Any, versioned_bucket: str, lambda_env: None
) -> None:
    """With versioning the stale event can still read its own version, so provenance metadata must stop it.
    Events carry no sequencer here (as the local runner builds them), so the verdict rests on LastModified,
    which has one-second resolution: the uploads are made more than a second apart."""
    bucket = versioned_bucket
    key = "incoming/versioned.png"
    old_event = upload(s3, bucket, key, png_bytes(gradient(800, 600)))
    time.sleep(1.1)
    new_event = upload(s3, bucket, key, png_bytes(gradient(640, 480)))
    new_version = new_event["Records"][0]["s3"]["object"]["versionId"]
    assert invoke(new_event)["status"] == "processed"
    renditions = etags(s3, bucket)
    main = s3.head_object(Bucket=bucket, Key=rendition_keys(key)[0])
    assert main["Metadata"]["source-version-id"] == new_version
    stale = invoke(old_event)
    assert stale["status"] == "skipped" and "newer upload" in stale["reason"], stale
    assert etags(s3, bucket) == renditions
    # The original was removed with a delete marker: no older version resurfaces as the key's current object.
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    assert [marker["IsLatest"] for marker in listing.get("DeleteMarkers", [])] == [True]
    assert not any(version["IsLatest"] for version in listing.get("Versions", []))
    assert keys(s3, bucket, "incoming/") == []


def test_stale_event_with_sequencers_in_a_versioned_bucket(s3: Any, versioned_bucket: str, lambda_env: None) -> None:
    """Same race with the sequencers real S3 events carry: ordered exactly, no need to wait a second."""
    bucket = versioned_bucket
    key = "incoming/sequenced.png"
    old_event = upload(s3, bucket, key, png_bytes(gradient(800, 600)))
    new_event = upload(s3, bucket, key, png_bytes(gradient(640, 480)))
    old_event["Records"][0]["s3"]["object"]["sequencer"] = "0055AED6DCD90281E5"
    new_event["Records"][0]["s3"]["object"]["sequencer"] = "0055AED6DCD90281E6"
    assert invoke(new_event)["status"] == "processed"
    renditions = etags(s3, bucket)
    stale = invoke(old_event)
    assert stale["status"] == "skipped" and "newer upload" in stale["reason"], stale
    assert etags(s3, bucket) == renditions


def test_same_second_reupload_without_sequencers_keeps_newer_renditions(
    s3: Any, versioned_bucket: str, lambda_env: None
) -> None:
    bucket = versioned_bucket
    for attempt in range(5):  # both uploads must land inside one second; try again if they straddle one
        key = f"incoming/same-second-{attempt}.png"
        while time.time() % 1 > 0.5:
            time.sleep(0.05)
        old_event = upload(s3, bucket, key, png_bytes(gradient(800, 600)))
        new_event = upload(s3, bucket, key, png_bytes(gradient(640, 480)))
        old_version = old_event["Records"][0]["s3"]["object"]["versionId"]
        old_head = s3.head_object(Bucket=bucket, Key=key, VersionId=old_version)
        if old_head["LastModified"] == s3.head_object(Bucket=bucket, Key=key)["LastModified"]:
            break
    else:
        pytest.fail("could not land two uploads inside one second in 5 attempts")
    assert invoke(new_event)["status"] == "processed"
    renditions = etags(s3, bucket)
    stale = invoke(old_event)
    assert stale["status"] == "skipped", stale
    assert etags(s3, bucket) == renditions


# ---------------------------------------------------------------------------------------------------------------
# Part 3: the local runner against SeaweedFS (it lists incoming/ instead of receiving notifications)


def test_cli_run_against_seaweedfs(seaweedfs: SeaweedS3, s3: Any, bucket: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        "AWS_DEFAULT_REGION": seaweedfs.region,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    for variable in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(variable, None)
    out = tmp_path / "out"
    result = run_module(
        "run",
        str(SAMPLES_DIR / "kodim03.png"),
        "--endpoint-url",
        seaweedfs.endpoint,
        "--bucket",
        bucket,
        "--out",
        str(out),
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1/1 uploads reached an end state" in result.stdout
    assert keys(s3, bucket) == ["media/kodim03.jpg", "media/kodim03_small.jpg", "media/kodim03_thumb.jpg"]
    for name in ("kodim03.jpg", "kodim03_thumb.jpg", "kodim03_small.jpg"):
        assert Image.open(out / name).format == "JPEG"
    assert Image.open(out / "kodim03.jpg").width <= 750
    head = s3.head_object(Bucket=bucket, Key="media/kodim03.jpg")
    assert head["ContentType"] == "image/jpeg" and head["Metadata"]["source-key"] == "incoming/kodim03.png"


# ---------------------------------------------------------------------------------------------------------------
# Part 4: the archive and `rerender` (ARCHIVE_PREFIX) on SeaweedFS, which enforces the copy's conditions


def test_copy_if_none_match_and_if_match_on_the_target(s3: Any, bucket: str) -> None:
    """archive.keep_original's conditions: a copy only while the target is free, or only over what was seen."""
    s3.put_object(Bucket=bucket, Key="incoming/a", Body=b"one")
    copy = {"Bucket": bucket, "Key": "originals/a", "CopySource": {"Bucket": bucket, "Key": "incoming/a"}}
    s3.copy_object(**copy, IfNoneMatch="*", StorageClass="GLACIER_IR")
    assert s3.head_object(Bucket=bucket, Key="originals/a")["StorageClass"] == "GLACIER_IR"
    assert error_of(lambda: s3.copy_object(**copy, IfNoneMatch="*")) == ("PreconditionFailed", 412)
    assert error_of(lambda: s3.copy_object(**copy, IfMatch=WRONG_ETAG)) == ("PreconditionFailed", 412)


def test_archive_then_rerender_a_new_size_and_prune(
    seaweedfs: SeaweedS3, s3: Any, bucket: str, lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from image_optimizer.settings import load_settings

    thumbnails = "thumb:150x150:crop,small:320x320:fit"  # the function's and, below, the command's
    monkeypatch.setattr(handler, "settings", load_settings({"ARCHIVE_PREFIX": "originals/", "THUMBNAILS": thumbnails}))
    image = png_bytes(gradient(1200, 800))
    event = upload(s3, bucket, "incoming/trip/day one.png", image)
    assert invoke(event)["status"] == "processed"
    assert keys(s3, bucket, "incoming/") == []
    assert body(s3, bucket, "originals/trip/day one.png") == image
    archived = s3.head_object(Bucket=bucket, Key="originals/trip/day one.png")
    assert archived["StorageClass"] == "GLACIER_IR"
    assert archived["Metadata"]["source-etag"] == event["Records"][0]["s3"]["object"]["eTag"]
    before = stamps(s3, bucket)
    written_by = (
        handler.get_service().renditions.code_identity,
        archived["Metadata"],
    )  # shown if the check below fails

    from image_optimizer.settings import SETTINGS

    names = {setting.name for setting in SETTINGS}  # the function's other settings above are the defaults: so are these
    env = {
        **{name: value for name, value in os.environ.items() if name not in names},
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        "ARCHIVE_PREFIX": "originals/",
        "THUMBNAILS": thumbnails + ",wide:600x300:crop",
    }
    args = ("rerender", "--bucket", bucket, "--endpoint-url", seaweedfs.endpoint)
    result = run_module(*args, env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["re-rendered", "1", "unchanged", "0", "pruned", "0", "failed", "0"]
    after = stamps(s3, bucket)
    assert {key: after[key] for key in before} == before, written_by  # not written again: same ETag, LastModified
    assert set(after) - set(before) == {"media/trip/day one_wide.jpg"}
    assert Image.open(io.BytesIO(body(s3, bucket, "media/trip/day one_wide.jpg"))).size == (600, 300)

    env["THUMBNAILS"] = "thumb:150x150:crop,wide:600x300:crop"
    result = run_module(*args, "--prune", env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["re-rendered", "0", "unchanged", "1", "pruned", "1", "failed", "0"]
    assert keys(s3, bucket, "media/") == [
        "media/trip/day one.jpg",
        "media/trip/day one_thumb.jpg",
        "media/trip/day one_wide.jpg",
    ]


def test_a_stale_copy_racing_a_newer_one_is_refused_by_the_condition(
    s3: Any, versioned_bucket: str, lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run A looks at the archive key and finds it free; before A copies, upload B replaces A and is processed
    (archived). A's copy (by version id: its source is still readable) goes out with If-None-Match: * and
    SeaweedFS refuses it; A looks again, finds B's copy and stops. (moto ignores the condition: A would overwrite
    B's copy there.)"""
    bucket = versioned_bucket
    from image_optimizer.aws.storage import ObjectChanged, S3Storage
    from image_optimizer.settings import load_settings

    monkeypatch.setattr(handler, "settings", load_settings({"ARCHIVE_PREFIX": "originals/"}))
    old, new = png_bytes(gradient(400, 300)), png_bytes(gradient(640, 480))
    old_event = upload(s3, bucket, "incoming/race.png", old)
    real_head = S3Storage.head
    raced: list[bool] = []

    def head_then_newer_upload(self: S3Storage, bucket_name: str, key: str) -> Any:
        found = real_head(self, bucket_name, key)
        if key == "originals/race.png" and not raced:  # A's first look at the archive key
            raced.append(True)
            assert found is None
            assert invoke(upload(s3, bucket, "incoming/race.png", new))["status"] == "processed"
        return found

    real_copy = S3Storage.copy
    refused: list[str] = []

    def copy_noting_refusals(self: S3Storage, *args: Any, **kwargs: Any) -> None:
        try:
            real_copy(self, *args, **kwargs)
        except ObjectChanged:
            refused.append(args[2])  # the target key
            raise

    monkeypatch.setattr(S3Storage, "head", head_then_newer_upload)
    monkeypatch.setattr(S3Storage, "copy", copy_noting_refusals)
    stale = invoke(old_event)
    assert raced and stale["status"] == "skipped", stale
    assert refused == ["originals/race.png"]  # A's copy: refused by If-None-Match, not decided by a look
    assert body(s3, bucket, "originals/race.png") == new
    assert keys(s3, bucket, "incoming/") == []
