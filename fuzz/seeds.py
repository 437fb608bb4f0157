"""Seed corpora per format: small files from ../shared/corpus, the test fixtures and samples/, plus small images
made here in the modes each decoder has (palette, 16-bit, CMYK, progressive, interlaced, alpha, animated...)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image

from image_optimizer.errors import ImageRejected
from image_optimizer.imaging.decode import SNIFF_BYTES, sniff_format

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("jpeg", "png", "gif", "webp", "tiff", "bmp", "heif", "avif")
MAX_SEED_BYTES = 256 * 1024  # larger inputs make each execution slow; -max_len is the same


def gradient(size: tuple[int, int] = (48, 32), mode: str = "RGB") -> Image.Image:
    width, height = size
    image = Image.new("RGB", size)
    image.putdata([(x * 255 // width, y * 255 // height, (x + y) % 256) for y in range(height) for x in range(width)])
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(size))
    elif mode == "I;16":
        return Image.linear_gradient("L").resize(size).convert("I").point(lambda v: v * 256).convert("I;16")
    elif mode != "RGB":
        image = image.convert(mode)
    return image


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _heif(image: Image.Image, fmt: str, **options: object) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return _save(image, fmt, **options)


def _animated(fmt: str, **options: object) -> bytes:
    frames = [gradient(), gradient().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **options)


MADE: dict[str, list[Callable[[], bytes]]] = {
    "jpeg": [
        lambda: _save(gradient(), "JPEG"),
        lambda: _save(gradient(), "JPEG", progressive=True, optimize=True),
        lambda: _save(gradient(mode="L"), "JPEG"),
        lambda: _save(gradient(mode="CMYK"), "JPEG"),
        lambda: _save(gradient(), "JPEG", subsampling=0, exif=_exif_orientation(6)),
        lambda: _save(gradient(), "MPO", save_all=True, append_images=[gradient(mode="RGB")]),
    ],
    "png": [
        lambda: _save(gradient(), "PNG"),
        lambda: _save(gradient(mode="RGBA"), "PNG"),
        lambda: _save(gradient(mode="P"), "PNG", transparency=0),
        lambda: _save(gradient(mode="1"), "PNG"),
        lambda: _save(gradient(mode="I;16"), "PNG"),
        lambda: _save(gradient(mode="LA"), "PNG"),
        lambda: _save(gradient(), "PNG", optimize=True),
        lambda: _animated("PNG"),
    ],
    "gif": [
        lambda: _save(gradient(mode="P"), "GIF"),
        lambda: _animated("GIF"),
        lambda: _save(gradient(mode="L"), "GIF"),
    ],
    "webp": [
        lambda: _save(gradient(), "WEBP", quality=80),
        lambda: _save(gradient(mode="RGBA"), "WEBP", lossless=True),
        lambda: _animated("WEBP"),
    ],
    "tiff": [
        lambda: _save(gradient(), "TIFF"),
        lambda: _save(gradient(), "TIFF", compression="tiff_lzw"),
        lambda: _save(gradient(), "TIFF", compression="tiff_adobe_deflate"),
        lambda: _save(gradient(mode="CMYK"), "TIFF", compression="packbits"),
        lambda: _save(gradient(mode="I;16"), "TIFF"),
        lambda: _save(gradient(mode="RGBA"), "TIFF"),
        lambda: _save(gradient(mode="1"), "TIFF", compression="group4"),
        lambda: _save(gradient(), "TIFF", compression="jpeg"),
    ],
    "bmp": [
        lambda: _save(gradient(), "BMP"),
        lambda: _save(gradient(mode="P"), "BMP"),
        lambda: _save(gradient(mode="1"), "BMP"),
        lambda: _save(gradient(mode="RGBA"), "BMP"),
        lambda: _save(gradient(mode="L"), "BMP"),
    ],
    "heif": [
        lambda: _heif(gradient(), "HEIF", quality=50),
        lambda: _heif(gradient(mode="RGBA"), "HEIF", quality=50),
        lambda: _heif(gradient(mode="L"), "HEIF", quality=50),
    ],
    "avif": [
        lambda: _save(gradient(), "AVIF", quality=50),
        lambda: _save(gradient(mode="RGBA"), "AVIF", quality=50),
    ],
}


def _exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def _found_files() -> Iterator[Path]:
    corpus = Path(os.environ.get("CORPUS_DIR", ROOT.parent / "shared" / "corpus"))
    for folder in (corpus, ROOT / "tests" / "fixtures", ROOT / "samples"):
        if folder.is_dir():
            yield from (path for path in sorted(folder.rglob("*")) if path.is_file())


def _format_of(data: bytes) -> str | None:
    try:
        return sniff_format(data[:SNIFF_BYTES]).lower()
    except ImageRejected:
        return None


def build(fmt: str, out: Path) -> int:
    """Fill `out` with the seeds of `fmt` (`all`: every format); returns how many are there."""
    wanted = FORMATS if fmt == "all" else (fmt,)
    out.mkdir(parents=True, exist_ok=True)
    seeds: list[bytes] = []
    for path in _found_files():
        if path.stat().st_size <= MAX_SEED_BYTES:
            data = path.read_bytes()
            if _format_of(data) in wanted:
                seeds.append(data)
    for name in wanted:
        for make in MADE[name]:
            try:
                seeds.append(make())
            except (OSError, KeyError, ValueError) as error:  # an encoder this Pillow build lacks
                print(f"seed skipped ({name}): {error}")
    for data in seeds:
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return len(list(out.iterdir()))
