"""Decoding reads the upload as it arrives: the GET's body is a file (download.Download) the decoder reads from, so
the download and the decode overlap. The outputs are those of the same bytes read at once."""

from __future__ import annotations

import functools
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from image_optimizer import handler
from image_optimizer.aws.download import Download, ReadFailed
from image_optimizer.imaging import decode
from image_optimizer.imaging.pipeline import optimize
from tests.bodies import download_of
from tests.conftest import SAMPLES_DIR, jpeg_bytes, png_bytes
from tests.integration.test_handler import put


def noise(width: int, height: int) -> Image.Image:
    """Incompressible pixels: a file of several MB, its data spread evenly through it."""
    return Image.fromarray(np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("name", ["landscape_exif6.jpg", "kodim03.png", "alpha.webp", "iphone8plus.heic"])
def test_a_file_still_arriving_gives_the_renditions_of_its_bytes(name: str) -> None:
    data = (SAMPLES_DIR / name).read_bytes()
    streamed = optimize(download_of(data, chunk=4096))
    whole = optimize(data)
    assert [(r.name, r.data) for r in streamed.renditions] == [(r.name, r.data) for r in whole.renditions]
    assert (streamed.source_format, streamed.source_width) == (whole.source_format, whole.source_width)


@functools.cache
def in_format(fmt: str) -> bytes:
    """A file of a few hundred KB in `fmt`: a download can break off well past its header."""
    if fmt == "heic":
        return (SAMPLES_DIR / "iphone8plus.heic").read_bytes()
    picture, buffer = noise(600, 400), io.BytesIO()
    options: dict[str, Any] = {
        "tiff-deflate": {"format": "TIFF", "compression": "tiff_adobe_deflate"},
        "gif": {"format": "GIF"},
        "jpeg": {"format": "JPEG", "quality": 95},
        "webp": {"format": "WEBP", "quality": 90},
    }.get(fmt, {"format": fmt.upper()})
    picture.save(buffer, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "bmp", "tiff", "tiff-deflate", "webp", "heic"])
@pytest.mark.parametrize("where", ["header", "middle"])
def test_a_download_that_breaks_off_is_read_failed_in_every_format(fmt: str, where: str) -> None:
    """No decoder may swallow the transfer's error and call the file truncated or corrupt."""
    data = in_format(fmt)
    assert len(data) > 40_000
    cut = 200 if where == "header" else len(data) // 2
    with pytest.raises(ReadFailed):
        optimize(download_of(data, chunk=4096, fail_after=cut))


def record_loads(patch: pytest.MonkeyPatch) -> list[tuple[Download, int]]:
    """Patch decode.load to record the file it decodes from and how much of it had arrived by then."""
    seen: list[tuple[Download, int]] = []
    real_load = decode.load

    def load(decoded: decode.Decoded) -> Image.Image:
        source = decoded.image.fp
        assert isinstance(source, Download), type(source)
        seen.append((source, source.received))
        return real_load(decoded)

    patch.setattr(decode, "load", load)
    return seen


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_the_service_decodes_while_most_of_the_upload_is_still_to_arrive(fmt: str, s3: Any, context: Any) -> None:
    picture = noise(1600, 1200)
    data = jpeg_bytes(picture, quality=95) if fmt == "jpeg" else png_bytes(picture, compress_level=1)
    event = put(s3, f"incoming/stream.{fmt}", data)
    with pytest.MonkeyPatch.context() as patch:
        seen = record_loads(patch)
        [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed" and result["bytes_in"] == len(data)
    [(download, received)] = seen
    assert download.size == len(data) > 1_000_000
    assert received < download.size / 10  # the header was read; the pixels' bytes were still to come


def test_the_whole_upload_is_received_before_any_rendition_is_written(s3: Any, context: Any) -> None:
    """A picture followed by more data (an MPO's second picture, here a second JPEG): the decoder stops at the
    first one's end, and the rest still arrives, its length checked, before anything is written."""
    data = jpeg_bytes(noise(800, 600), quality=95) + jpeg_bytes(noise(1600, 1200), quality=95)
    event = put(s3, "incoming/pair.jpg", data)
    service = handler.get_service()
    received_at_writes: list[int] = []
    real_put = service.storage.put

    def put_object(*args: Any, **kwargs: Any) -> None:
        [(download, _)] = seen
        received_at_writes.append(download.received)
        real_put(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        seen = record_loads(patch)
        patch.setattr(service.storage, "put", put_object)
        [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed" and result["bytes_in"] == len(data)
    assert received_at_writes == [len(data)] * 3
