"""Damaged uploads: every single-byte corruption of a small file in each format either still renders or is
rejected with an ImageRejected (moved to failed/ with its reason). Any other exception would be taken for a
transient fault and retried until the dead-letter queue, the upload never quarantined."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from image_optimizer.errors import CorruptImage, ImageRejected
from image_optimizer.imaging.decode import open_image
from image_optimizer.imaging.pipeline import optimize
from image_optimizer.specs import PipelineConfig
from tests.conftest import gradient

FORMATS = ["AVIF", "HEIF", "WEBP", "PNG", "GIF", "JPEG", "TIFF", "BMP"]


def encoded(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    buffer = io.BytesIO()
    gradient(*size).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_corrupted_byte_renders_or_is_rejected(fmt: str) -> None:
    data = encoded(fmt, (40, 30) if fmt not in ("TIFF", "BMP") else (12, 9))  # uncompressed: kept small
    config = PipelineConfig(quality=85, thumbnails=())  # decoding is what is tested: no search, no thumbnails
    rejected = 0
    for offset in range(len(data)):
        for damaged_byte in (data[offset] ^ 0xFF, 0):
            damaged = bytearray(data)
            damaged[offset] = damaged_byte
            try:
                optimize(bytes(damaged), config)
            except ImageRejected as rejection:
                assert "\n" not in str(rejection)
                rejected += 1
    assert rejected > 0  # the damage reached the decoder


def test_an_avif_without_its_image_item_is_corrupt_not_a_runtime_error() -> None:
    data = bytearray(encoded("AVIF"))
    primary = data.index(b"pitm") + 8  # box type, version and flags, then the primary item's ID
    data[primary : primary + 2] = (999).to_bytes(2, "big")
    with pytest.raises(CorruptImage, match="corrupt AVIF"):
        open_image(bytes(data), max_pixels=10**8)


def test_a_bmp_claiming_more_palette_colours_than_it_can_hold_is_corrupt() -> None:
    buffer = io.BytesIO()
    Image.new("P", (40, 30), 3).save(buffer, "BMP")
    data = bytearray(buffer.getvalue())
    struct.pack_into("<I", data, 46, 300)  # biClrUsed: 300 colours for an 8-bit palette
    with pytest.raises(CorruptImage, match="corrupt BMP: invalid palette"):
        optimize(bytes(data))
