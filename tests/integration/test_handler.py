"""The Lambda handler against moto's in-process S3, driven by the sample events in events/."""

from __future__ import annotations

import copy
import io
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote, quote_plus

import pytest
from PIL import Image

from image_optimizer import handler
from tests.conftest import BUCKET, EVENTS_DIR, SAMPLES_DIR, gradient, jpeg_bytes, keys, png_bytes

EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def upload_for(s3: Any, event: dict[str, Any], data: bytes) -> dict[str, Any]:
    """Put `data` under the key each record names; return the event carrying that object's ETag and size."""
    event = copy.deepcopy(event)
    for record in event.get("Records", []):
        obj = record["s3"]["object"]
        from urllib.parse import unquote_plus

        response = s3.put_object(Bucket=BUCKET, Key=unquote_plus(obj["key"]), Body=data)
        obj["eTag"], obj["size"] = response["ETag"].strip('"'), len(data)
    return event


def s3_event(
    key: str, etag: str | None = None, size: int | None = None, name: str = "ObjectCreated:Put"
) -> dict[str, Any]:
    event = load_event("s3-put.json")
    obj = event["Records"][0]["s3"]["object"]
    obj["key"] = quote_plus(key, safe="/")
    event["Records"][0]["eventName"] = name
    if etag is None:
        obj.pop("eTag")
    else:
        obj["eTag"] = etag
    if size is None:
        obj.pop("size")
    else:
        obj["size"] = size
    return event


def put(s3: Any, key: str, data: bytes) -> dict[str, Any]:
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return s3_event(key, response["ETag"].strip('"'), len(data))


EXPECTED_OUTPUTS = {
    "s3-put.json": ["media/photos/landscape.jpg"],
    "s3-put-encoded-key.json": ["media/summer holiday/Ünïcødé + plus.v2.jpg"],
    "s3-put-outside-prefix.json": ["media/photos/landscape.jpg"],  # the object the event names, untouched
    "s3-test-event.json": [],
    "sqs-s3-put.json": ["media/photos/landscape.jpg", "media/photos/second.jpg"],
    "eventbridge-object-created.json": ["media/photos/from eventbridge.jpg"],
    "s3-batch-operations-1.0.json": ["media/backfill/old photo.jpg"],
    "s3-batch-operations-2.0.json": ["media/backfill/été 2019.jpg"],
}


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_every_sample_event_is_handled(path: Path, s3: Any, context: Any) -> None:
    from image_optimizer.local.invoke import stage_event

    # Given the event file with a real image under each key it names
    event = json.loads(path.read_text())
    stage_event(s3, event, SAMPLES_DIR / "landscape_exif6.jpg")
    # When the handler runs on it
    response = handler.lambda_handler(event, context)
    # Then the main renditions it names exist, the originals under incoming/ are gone, and nothing failed
    main_keys = [key for key in keys(s3, "media/") if not key.endswith(("_thumb.jpg", "_small.jpg"))]
    assert sorted(main_keys) == sorted(EXPECTED_OUTPUTS[path.name])
    assert keys(s3, "incoming/") == []
    assert response.get("batchItemFailures", []) == []
    codes = [result["resultCode"] for result in response.get("results", []) if "resultCode" in result]
    assert all(code == "Succeeded" for code in codes)


def test_every_event_file_has_an_expectation() -> None:
    assert {path.name for path in EVENT_FILES} == set(EXPECTED_OUTPUTS)


def test_plain_upload_becomes_renditions_and_the_original_goes(s3: Any, context: Any) -> None:
    event = upload_for(s3, load_event("s3-put.json"), (SAMPLES_DIR / "landscape_exif6.jpg").read_bytes())
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
    assert keys(s3) == [
        "media/photos/landscape.jpg",
        "media/photos/landscape_small.jpg",
        "media/photos/landscape_thumb.jpg",
    ]
    main = s3.get_object(Bucket=BUCKET, Key="media/photos/landscape.jpg")
    image = Image.open(io.BytesIO(main["Body"].read()))
    assert image.format == "JPEG" and image.size == (750, 500)  # EXIF 6: the 1200x1800 file is a landscape
    assert main["ContentType"] == "image/jpeg"
    assert "max-age" in main["CacheControl"]
    assert main["Metadata"]["source-key"] == "incoming/photos/landscape.jpg"
    assert main["Metadata"]["source-etag"] == event["Records"][0]["s3"]["object"]["eTag"]


def test_encoded_key_with_spaces_plus_and_unicode(s3: Any, context: Any) -> None:
    event = upload_for(s3, load_event("s3-put-encoded-key.json"), png_bytes(gradient(900, 600)))
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
    stem = "media/summer holiday/Ünïcødé + plus.v2"
    assert keys(s3) == [f"{stem}.jpg", f"{stem}_small.jpg", f"{stem}_thumb.jpg"]
    metadata = s3.head_object(Bucket=BUCKET, Key=f"{stem}.jpg")["Metadata"]
    assert metadata["source-key"].isascii()
    assert metadata["source-key"] == quote("incoming/summer holiday/Ünïcødé + plus.v2.jpg", safe="/ :;,()=+-_.'\"[]")


def test_outside_prefix_is_a_no_op(s3: Any, context: Any) -> None:
    data = jpeg_bytes(gradient(100, 100))
    event = upload_for(s3, load_event("s3-put-outside-prefix.json"), data)
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "ignored" and "INCOMING_PREFIX" in result["reason"]
    assert keys(s3) == ["media/photos/landscape.jpg"]
    assert s3.get_object(Bucket=BUCKET, Key="media/photos/landscape.jpg")["Body"].read() == data


def test_s3_test_event_placeholder_and_non_create_events_are_ignored(s3: Any, context: Any) -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-25T12:00:00Z", "Bucket": BUCKET}
    assert handler.lambda_handler(test_event, context)["results"][0]["status"] == "ignored"
    s3.put_object(Bucket=BUCKET, Key="incoming/folder/", Body=b"")
    [placeholder] = handler.lambda_handler(put(s3, "incoming/folder/", b""), context)["results"]
    assert placeholder["status"] == "ignored" and placeholder["reason"] == "folder placeholder"
    data = jpeg_bytes(gradient(100, 100))
    s3.put_object(Bucket=BUCKET, Key="incoming/x.jpg", Body=data)
    [removed] = handler.lambda_handler(s3_event("incoming/x.jpg", name="ObjectRemoved:Delete"), context)["results"]
    assert removed["status"] == "ignored"
    assert keys(s3) == ["incoming/folder/", "incoming/x.jpg"]


def test_non_image_moves_to_failed_with_the_reason(s3: Any, context: Any) -> None:
    body = b"A text file: spoofed!\n"
    response = s3.put_object(Bucket=BUCKET, Key="incoming/docs/notes.jpg", Body=body, ContentType="image/jpeg")
    event = s3_event("incoming/docs/notes.jpg", response["ETag"].strip('"'), len(body))
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "rejected" and result["error_kind"] == "unsupported_format"
    assert keys(s3) == ["failed/docs/notes.jpg"]
    moved = s3.get_object(Bucket=BUCKET, Key="failed/docs/notes.jpg")
    assert moved["ContentType"] == "image/jpeg"  # what the client claimed, kept for whoever inspects it
    assert moved["Body"].read() == b"A text file: spoofed!\n"
    assert moved["Metadata"]["error-kind"] == "unsupported_format"
    assert "text" in moved["Metadata"]["reason"]


def test_a_second_rejected_upload_at_the_same_key_keeps_the_first(s3: Any, context: Any) -> None:
    first = put(s3, "incoming/docs/cv.jpg", b"first: a text file\n")
    assert handler.lambda_handler(first, context)["results"][0]["status"] == "rejected"
    handler.lambda_handler(first, context)  # the same event again: the original is gone, nothing moves
    second = put(s3, "incoming/docs/cv.jpg", b"%PDF-1.4 second\n")
    [result] = handler.lambda_handler(second, context)["results"]
    assert result["status"] == "rejected" and result["error_kind"] == "unsupported_format"
    tag = second["Records"][0]["s3"]["object"]["eTag"][:12]
    assert keys(s3) == sorted(["failed/docs/cv.jpg", f"failed/docs/cv.{tag}.jpg"])
    assert s3.get_object(Bucket=BUCKET, Key="failed/docs/cv.jpg")["Body"].read() == b"first: a text file\n"
    assert s3.get_object(Bucket=BUCKET, Key=f"failed/docs/cv.{tag}.jpg")["Body"].read() == b"%PDF-1.4 second\n"


def test_oversized_upload_is_rejected_without_downloading(s3: Any, context: Any) -> None:
    data = jpeg_bytes(gradient(400, 300))
    event = put(s3, "incoming/big.jpg", data)
    service = handler.get_service()
    with (
        mock.patch.object(service, "settings", replace(service.settings, max_input_bytes=100)),
        mock.patch.object(service.storage, "open", side_effect=AssertionError("downloaded")),
    ):
        [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "rejected" and "MAX_INPUT_BYTES=100" in result["reason"]
    assert keys(s3) == ["failed/big.jpg"]


def test_a_key_whose_renditions_s3_cannot_store_is_rejected_not_retried(s3: Any, context: Any) -> None:
    # 1,022 UTF-8 bytes: a valid key, but "media/<stem>_small.jpg" would be 1,025 (S3 refuses keys over 1,024
    # with KeyTooLongError, which every retry would meet again; moto does not enforce the limit)
    key = "incoming/" + "é" * 504 + "x.png"
    assert len(key.encode()) == 1022
    event = put(s3, key, png_bytes(gradient(40, 30)))
    service = handler.get_service()
    opened = []
    real_open = service.storage.open
    with mock.patch.object(
        service.storage, "open", side_effect=lambda *a, **k: opened.append(real_open(*a, **k)) or opened[-1]
    ):
        [result] = handler.lambda_handler(event, context)["results"]
    assert [stored.body.received for stored in opened] == [0]  # its body never read
    assert result["status"] == "rejected" and result["error_kind"] == "key_too_long"
    assert "1025 bytes, over S3's limit of 1024" in result["reason"]
    assert keys(s3) == ["failed/" + key.removeprefix("incoming/")]  # 1,020 bytes: it fits
    # one byte less for the longest rendition key, and the upload goes through
    shorter = "incoming/" + "é" * 503 + "xy.png"
    [result] = handler.lambda_handler(put(s3, shorter, png_bytes(gradient(40, 30))), context)["results"]
    assert result["status"] == "processed"
    assert max(len(output["key"].encode()) for output in result["outputs"]) == 1024


def test_a_failing_write_leaves_the_original_and_fails_the_invocation(s3: Any, context: Any) -> None:
    from botocore.exceptions import ClientError

    event = put(s3, "incoming/cat.png", png_bytes(gradient(800, 600)))
    service = handler.get_service()
    real_put = service.storage.put
    calls = []

    def flaky_put(bucket: str, key: str, *args: Any, **kwargs: Any) -> None:
        calls.append(key)
        if key.endswith("_small.jpg"):  # one rendition fails; the others (written concurrently) succeed
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "PutObject")
        real_put(bucket, key, *args, **kwargs)

    with mock.patch.object(service.storage, "put", side_effect=flaky_put), pytest.raises(handler.RecordsFailed):
        handler.lambda_handler(event, context)
    assert sorted(calls) == ["media/cat.jpg", "media/cat_small.jpg", "media/cat_thumb.jpg"]
    assert keys(s3) == ["incoming/cat.png", "media/cat.jpg", "media/cat_thumb.jpg"]  # the original waits

    # A retry of the same event completes the work.
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
    assert keys(s3) == ["media/cat.jpg", "media/cat_small.jpg", "media/cat_thumb.jpg"]


def test_a_retry_rewrites_what_another_encoder_wrote(s3: Any, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attempt 1 ran where jpegli could not load (Pillow encoded) and failed before deleting the original;
    the retry, with jpegli, rewrites every rendition instead of keeping the fallback's next to its own."""
    from botocore.exceptions import ClientError

    from image_optimizer.imaging import jpegli

    event = put(s3, "incoming/enc.png", png_bytes(gradient(800, 600)))
    monkeypatch.setitem(sys.modules, "pyjpegli", None)
    jpegli.load.cache_clear()
    service = handler.get_service()
    failing_delete = ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "DeleteObject")
    with mock.patch.object(service.storage, "delete", side_effect=failing_delete), pytest.raises(handler.RecordsFailed):
        handler.lambda_handler(event, context)
    fallback = {key: s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["pipeline"] for key in keys(s3, "media/")}
    assert len(fallback) == 3 and "incoming/enc.png" in keys(s3)

    monkeypatch.delitem(sys.modules, "pyjpegli")
    jpegli.load.cache_clear()
    handler.get_service.cache_clear()  # a new process: jpegli loads this time
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
    rewritten = {key: s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["pipeline"] for key in keys(s3, "media/")}
    assert set(rewritten) == set(fallback)
    assert all(rewritten[key] != fallback[key] for key in fallback)
    service = handler.get_service()  # each rendition carries the fingerprint of what shapes it, as jpegli made it
    names = {"media/enc.jpg": "main", "media/enc_thumb.jpg": "thumb", "media/enc_small.jpg": "small"}
    assert rewritten == {key: service.renditions.fingerprint(name, "jpeg") for key, name in names.items()}


def test_duplicate_event_after_success_is_a_quiet_no_op(s3: Any, context: Any) -> None:
    event = put(s3, "incoming/dup.png", png_bytes(gradient(800, 600)))
    handler.lambda_handler(event, context)
    before = {key: s3.get_object(Bucket=BUCKET, Key=key)["ETag"] for key in keys(s3)}
    [again] = handler.lambda_handler(event, context)["results"]
    assert again["status"] == "skipped"
    assert {key: s3.get_object(Bucket=BUCKET, Key=key)["ETag"] for key in keys(s3)} == before


def test_stale_event_does_not_touch_a_newer_upload(s3: Any, context: Any) -> None:
    old_event = put(s3, "incoming/re.png", png_bytes(gradient(800, 600)))
    s3.put_object(Bucket=BUCKET, Key="incoming/re.png", Body=png_bytes(gradient(640, 480)))  # re-upload
    [result] = handler.lambda_handler(old_event, context)["results"]
    assert result["status"] == "skipped" and "stale" in result["reason"]
    assert keys(s3) == ["incoming/re.png"]


def test_client_honours_the_endpoint_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from image_optimizer.aws.storage import make_s3_client

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    assert make_s3_client().meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8")
    assert make_s3_client().meta.endpoint_url == "http://127.0.0.1:8"


def test_structured_log_line_carries_key_and_request_id(
    s3: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = put(s3, "incoming/log.png", png_bytes(gradient(300, 200)))
    log_stream = io.StringIO()
    previous = handler.logger.registered_handler.setStream(log_stream)  # type: ignore[attr-defined]
    try:
        handler.lambda_handler(event, context)
    finally:
        handler.logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    logs = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    processed = [line for line in logs if line.get("message") == "processed"]
    assert processed and processed[0]["key"] == "incoming/log.png"
    assert processed[0]["function_request_id"] == context.aws_request_id
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metrics and metrics[-1]["ImagesProcessed"] in (1, [1], 1.0, [1.0])
    assert metrics[-1]["BytesOut"] in (processed[0]["bytes_out"], [processed[0]["bytes_out"]])


def test_sample_images_exist() -> None:
    assert len([p for p in Path(SAMPLES_DIR).iterdir() if p.suffix in {".jpg", ".png", ".webp", ".heic"}]) >= 3


def test_extra_formats_write_webp_and_avif_siblings_of_every_rendition(
    s3: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_siblings = replace(
        handler.settings, pipeline=replace(handler.settings.pipeline, extra_formats=("webp", "avif"))
    )
    monkeypatch.setattr(handler, "settings", with_siblings)
    handler.get_service.cache_clear()
    event = put(s3, "incoming/photos/kodim03.png", (SAMPLES_DIR / "kodim03.png").read_bytes())
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
    stems = ["media/photos/kodim03", "media/photos/kodim03_small", "media/photos/kodim03_thumb"]
    assert keys(s3) == sorted(f"{stem}.{ext}" for stem in stems for ext in ("jpg", "webp", "avif"))
    for stem in stems:
        jpeg = Image.open(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=f"{stem}.jpg")["Body"].read()))
        for ext, pillow_format in (("webp", "WEBP"), ("avif", "AVIF")):
            sibling = s3.get_object(Bucket=BUCKET, Key=f"{stem}.{ext}")
            assert sibling["ContentType"] == f"image/{ext}"
            assert sibling["Metadata"]["source-key"] == "incoming/photos/kodim03.png"
            image = Image.open(io.BytesIO(sibling["Body"].read()))
            assert (image.format, image.size) == (pillow_format, jpeg.size)
    formats = {(output["name"], output["format"]) for output in result["outputs"]}
    assert formats == {(name, fmt) for name in ("main", "thumb", "small") for fmt in ("jpeg", "webp", "avif")}
