"""Load: 500 mixed uploads through the handler against a local S3 *server* (moto's ThreadedMotoServer on
127.0.0.1, real HTTP), two concurrent workers sharing the handler's one cached client, then a bucket audit:
every upload in exactly one end state, counts matching the good/bad split, nothing pending."""

from __future__ import annotations

import io
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from PIL import Image

from image_optimizer import handler
from image_optimizer.local.run import embedded_s3
from tests.conftest import BUCKET, FakeContext, corpus_dir, gradient, jpeg_bytes, png_bytes
from tests.faults.harness import Upload, bucket_audit, next_sequencer, s3_event

UPLOADS = 500
BAD_SHARE = 0.05
WORKERS = 2

# Small, decodable corpus files (all "ok: opened and decoded" in MANIFEST.tsv) and rejected ones (07_hostile).
CORPUS_GOOD = [
    "02_orientation/orient_png_exif_6.png",
    "02_orientation/orient_webp_exif_6.webp",
    "02_orientation/orient_landscape_6.jpg",
    "03_icc_color/cmyk_plain_no_icc.jpg",
    "03_icc_color/gray_jpeg_icc_gray_gamma22.jpg",
    "03_icc_color/icc_displayp3_8x8_rgba.png",
    "04_png/png_1bit_palette_1bit.png",
    "04_png/png_gray16_basn0g16.png",
    "04_png/png_la16_basn4a16.png",
    "04_png/png_palette_trns_300x225.png",
    "04_png/png_rgba_transparent_200x150.png",
    "05_gif_webp_tiff_bmp/bmp_8bit_rle8.bmp",
    "05_gif_webp_tiff_bmp/gif_static_transparent.gif",
    "05_gif_webp_tiff_bmp/tiff_16bit_rgb_100x40.tiff",
    "05_gif_webp_tiff_bmp/webp_lossy_alpha.webp",
    "07_hostile/tiny_1x1.png",
    "07_hostile/extreme_aspect_1000x1.png",
]
CORPUS_BAD = [
    "07_hostile/text_file_named.jpg",
    "07_hostile/truncated_jpeg_pillow.jpg",
    "07_hostile/corrupt_png_missing_idat_xdtn0g01.png",
    "07_hostile/zero_byte.jpg",
    "07_hostile/truncated_png_10kb.png",
    "07_hostile/bomb_gif_65535x66601_44bytes.gif",
]


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "GIF":
        image = image.convert("P")
    image.save(buffer, fmt)
    return buffer.getvalue()


def generated_good(rng: random.Random, n: int) -> tuple[str, bytes]:
    width, height = rng.randint(16, 420), rng.randint(16, 420)
    image = gradient(width, height)
    fmt, ext = rng.choice(
        [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tif")]
    )
    if rng.random() < 0.3:
        image = image.convert("RGBA") if fmt in ("PNG", "WEBP", "TIFF") else image.convert("L")
    return ext, _encode(image, fmt)


def generated_bad(rng: random.Random, n: int) -> tuple[str, bytes]:
    choice = n % 3
    if choice == 0:
        return "jpg", f"plain text upload #{n}\n".encode()
    full = jpeg_bytes(gradient(300, 200)) if choice == 1 else png_bytes(gradient(300, 200))
    return ("jpg" if choice == 1 else "png"), full[: len(full) // 3]  # truncated


def build_inputs(rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(extension, data, expected end state) for every upload, shuffled."""
    bad_count = round(UPLOADS * BAD_SHARE)
    corpus = corpus_dir()
    good_corpus = [corpus / name for name in CORPUS_GOOD if (corpus / name).is_file()]
    bad_corpus = [corpus / name for name in CORPUS_BAD if (corpus / name).is_file()]
    inputs: list[tuple[str, bytes, str]] = []
    for n in range(bad_count):
        if bad_corpus and n % 2:
            path = bad_corpus[n // 2 % len(bad_corpus)]
            inputs.append((path.suffix.lstrip("."), path.read_bytes(), "quarantined"))
        else:
            ext, data = generated_bad(rng, n)
            inputs.append((ext, data, "quarantined"))
    for n in range(UPLOADS - bad_count):
        if good_corpus and n % 8 == 0:
            path = good_corpus[n // 8 % len(good_corpus)]
            inputs.append((path.suffix.lstrip("."), path.read_bytes(), "processed"))
        else:
            ext, data = generated_good(rng, n)
            inputs.append((ext, data, "processed"))
    rng.shuffle(inputs)
    return inputs


def key_for(i: int, ext: str) -> str:
    if i % 10 == 3:
        return f"incoming/load/été {i:04d} + plus.{ext}"  # encoded in events: spaces, '+', unicode
    return f"incoming/load/{i % 7}/img_{i:04d}.{ext}"


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3

    with embedded_s3() as endpoint:  # the same in-process moto server `make run` uses
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # read by botocore when the handler makes its client
        handler.get_service.cache_clear()
        try:
            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            client.create_bucket(Bucket=BUCKET)
            assert handler.get_service().storage.client.meta.endpoint_url == endpoint
            yield client
        finally:
            handler.get_service.cache_clear()
            monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert "AWS_ENDPOINT_URL" not in os.environ


@pytest.mark.server
def test_load_500_mixed_uploads_two_workers(s3_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = s3_server
    rng = random.Random(20261125)
    started = time.perf_counter()
    inputs = build_inputs(rng)
    expected = Counter(expect for _, _, expect in inputs)
    assert expected["quarantined"] == round(UPLOADS * BAD_SHARE) and sum(expected.values()) == UPLOADS

    def put(i: int) -> Upload:
        ext, data, expect = inputs[i]
        key = key_for(i, ext)
        etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
        return Upload(key, data, etag, s3_event(key, etag, len(data), next_sequencer()), expect)

    with ThreadPoolExecutor(4) as pool:
        uploads = list(pool.map(put, range(UPLOADS)))
    uploaded = time.perf_counter()

    context = FakeContext()
    failures: list[str] = []

    def invoke(item: Upload) -> str:
        try:
            [result] = handler.lambda_handler(item.event, context)["results"]
        except Exception as error:
            failures.append(f"{item.key}: {error!r}")
            return "raised"
        return str(result["status"])

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = Counter(pool.map(invoke, uploads))
    processed_at = time.perf_counter()

    results, counts = bucket_audit(s3, uploads, check_jpeg=True, workers=4)
    mismatched = [
        f"{item.key}: expected {item.expect}, got {results[item.key].state} ({results[item.key].detail})"
        for item in uploads
        if results[item.key].state != item.expect
    ]
    finished = time.perf_counter()
    with capsys.disabled():
        print(
            f"\n[load] {UPLOADS} uploads, {WORKERS} workers: handler statuses {dict(statuses)}; "
            f"audit processed={counts['processed']} quarantined={counts['quarantined']} pending={counts['pending']}; "
            f"upload {uploaded - started:.1f}s, handler {processed_at - uploaded:.1f}s "
            f"({UPLOADS / (processed_at - uploaded):.0f} uploads/s), audit {finished - processed_at:.1f}s"
        )
    assert not failures, failures[:10]
    assert counts["pending"] == 0
    assert sum(counts.values()) == UPLOADS
    assert not mismatched, mismatched[:10]
    assert counts == Counter({"processed": expected["processed"], "quarantined": expected["quarantined"]})
    assert statuses == Counter({"processed": expected["processed"], "rejected": expected["quarantined"]})
    # quarantined originals carry why
    for item in uploads:
        if item.expect == "quarantined":
            metadata = s3.head_object(Bucket=BUCKET, Key="failed/" + item.key[len("incoming/") :])["Metadata"]
            assert metadata["reason"] and metadata["error-kind"], (item.key, metadata)


@pytest.mark.parametrize("size", [(247, 247), (335, 247), (291, 360), (1000, 497)])
def test_crop_thumbnail_of_sizes_whose_box_rounds_outside_the_image(
    size: tuple[int, int], s3: Any, context: Any
) -> None:
    data = png_bytes(gradient(*size))
    etag = s3.put_object(Bucket=BUCKET, Key="incoming/sizes/odd.png", Body=data)["ETag"].strip('"')
    event = s3_event("incoming/sizes/odd.png", etag, len(data), next_sequencer())
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
