"""ARCHIVE_PREFIX on moto: every accepted upload is copied, verified, before it leaves incoming/; the guarantees
hold for the copy (a retry finds its own, a stale run never replaces a newer upload's, a failed copy keeps the
original)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from image_optimizer import handler
from image_optimizer.aws import archive
from image_optimizer.aws.provenance import Source
from image_optimizer.aws.storage import S3Storage
from image_optimizer.settings import load_settings
from tests.conftest import BUCKET, gradient, jpeg_bytes, keys, png_bytes
from tests.integration.test_handler import put, s3_event

ARCHIVE_ENV = {"ARCHIVE_PREFIX": "originals/"}


@pytest.fixture
def archived(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function with ARCHIVE_PREFIX=originals/ (and the default storage class, GLACIER_IR)."""
    monkeypatch.setattr(handler, "settings", load_settings(ARCHIVE_ENV))
    handler.get_service.cache_clear()
    return s3


def record_calls(operation: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    client = handler.get_service().storage.client
    client.meta.events.register(f"provide-client-params.s3.{operation}", lambda params, **_: calls.append(dict(params)))
    return calls


def test_an_accepted_upload_is_archived_with_its_bytes_type_and_storage_class(archived: Any, context: Any) -> None:
    image = jpeg_bytes(gradient(900, 600), quality=95)
    key = "incoming/trips/Beach Day.JPG"
    response = archived.put_object(Bucket=BUCKET, Key=key, Body=image, ContentType="image/jpeg")
    etag = response["ETag"].strip('"')
    [result] = handler.lambda_handler(s3_event(key, etag, len(image)), context)["results"]
    assert result["status"] == "processed"
    assert keys(archived, "incoming/") == []
    copy = archived.get_object(Bucket=BUCKET, Key="originals/trips/Beach Day.JPG")  # the name as uploaded
    assert copy["Body"].read() == image
    assert copy["StorageClass"] == "GLACIER_IR"
    assert copy["ContentType"] == "image/jpeg"
    assert copy["Metadata"]["source-etag"] == etag
    assert copy["Metadata"]["source-key"] == "incoming/trips/Beach Day.JPG"
    assert "x-amz-acl" not in copy["ResponseMetadata"]["HTTPHeaders"]  # no ACL: as private as the bucket


def test_the_copy_carries_the_uploads_content_type_and_the_chosen_storage_class(
    s3: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler, "settings", load_settings({**ARCHIVE_ENV, "ARCHIVE_STORAGE_CLASS": "standard_ia"}))
    handler.get_service.cache_clear()
    image = png_bytes(gradient(300, 200))
    response = s3.put_object(Bucket=BUCKET, Key="incoming/a.png", Body=image, ContentType="image/png")
    handler.lambda_handler(s3_event("incoming/a.png", response["ETag"].strip('"'), len(image)), context)
    head = s3.head_object(Bucket=BUCKET, Key="originals/a.png")
    assert (head["ContentType"], head["StorageClass"], head["ContentLength"]) == (
        "image/png",
        "STANDARD_IA",
        len(image),
    )


def test_rejected_uploads_still_go_to_failed_and_are_not_archived(archived: Any, context: Any) -> None:
    [result] = handler.lambda_handler(put(archived, "incoming/notes.jpg", b"not an image"), context)["results"]
    assert result["status"] == "rejected"
    assert keys(archived) == ["failed/notes.jpg"]


def test_a_failed_copy_leaves_the_original_and_the_retry_archives_it(archived: Any, context: Any) -> None:
    image = png_bytes(gradient(400, 300))
    event = put(archived, "incoming/x.png", image)
    service = handler.get_service()
    boom = ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "CopyObject")
    with mock.patch.object(service.storage, "copy", side_effect=boom), pytest.raises(handler.RecordsFailed):
        handler.lambda_handler(event, context)
    assert keys(archived, "incoming/") == ["incoming/x.png"]  # nothing lost
    assert keys(archived, "originals/") == []

    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
    assert keys(archived, "incoming/") == []
    assert archived.get_object(Bucket=BUCKET, Key="originals/x.png")["Body"].read() == image


def test_a_copy_that_does_not_verify_keeps_the_original(archived: Any, context: Any) -> None:
    """The copy 'succeeded' but holds something else (here: nothing): the original must not go."""
    event = put(archived, "incoming/v.png", png_bytes(gradient(400, 300)))
    service = handler.get_service()
    with mock.patch.object(service.storage, "copy"), pytest.raises(handler.RecordsFailed):
        handler.lambda_handler(event, context)
    assert keys(archived, "incoming/") == ["incoming/v.png"]


def test_a_retry_finds_its_own_copy_and_does_not_copy_again(archived: Any, context: Any) -> None:
    event = put(archived, "incoming/r.png", png_bytes(gradient(400, 300)))
    service = handler.get_service()
    boom = ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "DeleteObject")
    with mock.patch.object(service.storage, "delete", side_effect=boom), pytest.raises(handler.RecordsFailed):
        handler.lambda_handler(event, context)
    first = archived.head_object(Bucket=BUCKET, Key="originals/r.png")
    copies = record_calls("CopyObject")
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
    assert copies == []
    again = archived.head_object(Bucket=BUCKET, Key="originals/r.png")
    assert (again["ETag"], again["LastModified"]) == (first["ETag"], first["LastModified"])


def test_a_stale_run_does_not_overwrite_a_newer_uploads_archive_copy(archived: Any, context: Any) -> None:
    """Run A reads and renders its upload; before it archives, B replaces it at the key and is processed
    (archived, deleted). A's copy step finds B's copy and stops: B's bytes stay in the archive."""
    old = png_bytes(gradient(400, 300))
    new = png_bytes(gradient(640, 480))
    old_event = put(archived, "incoming/s.png", old)
    real = archive.keep_original
    raced: list[bool] = []

    def newer_upload_first(*args: Any, **kwargs: Any) -> bool:
        if not raced:  # A's copy step; B's own run below goes straight through
            raced.append(True)
            new_event = put(archived, "incoming/s.png", new)
            new_event["Records"][0]["s3"]["object"]["sequencer"] = "0A1B2C3D4E5F679999"  # after A's
            [done] = handler.lambda_handler(new_event, context)["results"]
            assert done["status"] == "processed"
        return real(*args, **kwargs)

    with mock.patch.object(archive, "keep_original", side_effect=newer_upload_first):
        [result] = handler.lambda_handler(old_event, context)["results"]
    assert result["status"] == "skipped"
    assert archived.get_object(Bucket=BUCKET, Key="originals/s.png")["Body"].read() == new
    assert (
        archived.head_object(Bucket=BUCKET, Key="media/s.jpg")["Metadata"]["source-etag"]
        != old_event["Records"][0]["s3"]["object"]["eTag"]
    )


def test_a_newer_copy_is_never_replaced_by_an_older_upload(s3: Any) -> None:
    """The decision itself: a copy from a later upload of the key (later LastModified) stays, and no copy is
    attempted, whatever the run believes about its own upload."""
    s3.put_object(Bucket=BUCKET, Key="incoming/k.png", Body=b"old")
    newer = {"source-key": "incoming/k.png", "source-etag": "bbbb", "source-last-modified": "2026-12-01T10:00:05"}
    s3.put_object(Bucket=BUCKET, Key="originals/k.png", Body=b"new", Metadata={**newer, "pipeline": "archive"})
    storage = S3Storage(s3)
    mine = Source("incoming/k.png", "aaaa", None, "2026-12-01T10:00:01", None, "")
    with mock.patch.object(storage, "copy") as copy, pytest.raises(archive.NewerArchived):
        archive.keep_original(
            storage,
            BUCKET,
            "originals/k.png",
            mine,
            size=3,
            content_type=None,
            storage_class="GLACIER_IR",
            still_current=lambda: True,
        )
    copy.assert_not_called()
    assert s3.get_object(Bucket=BUCKET, Key="originals/k.png")["Body"].read() == b"new"


def test_the_archive_prefix_never_triggers_processing(archived: Any, context: Any) -> None:
    """Recursion guard in code: an S3 event for an archive key (as if the trigger covered it) is ignored."""
    handler.lambda_handler(put(archived, "incoming/g.png", png_bytes(gradient(300, 200))), context)
    etag = archived.head_object(Bucket=BUCKET, Key="originals/g.png")["ETag"].strip('"')
    before = keys(archived)
    [outcome] = handler.lambda_handler(s3_event("originals/g.png", etag, 100), context)["results"]
    assert outcome["status"] == "ignored"
    assert keys(archived) == before
