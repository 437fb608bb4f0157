"""Encoding a finished rendition: image in, bytes out. Pure, like the rest of the pipeline.

JPEG, by default: jpegli (pyjpegli) at a quality chosen per image, then mozjpeg's lossless pass (progressive
scans, optimal Huffman tables: fewer bytes, identical pixels). The quality is the lowest whose PSNR stays
within QUALITY_SLACK_DB of what libjpeg-turbo at the target quality gives the same pixels: a fixed quality wastes
bytes on easy images and starves hard ones. `JPEG_QUALITY` fixes it instead. Pillow/libjpeg-turbo is the
fallback when either library does not import (or jpegli refuses an image), and does grayscale, which pyjpegli
cannot.

WebP and AVIF siblings (EXTRA_FORMATS) use one quality per format, calibrated so their mean SSIMULACRA2 over the
benchmark images matches the JPEGs' (`make bench` reports both).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageStat

from .errors import CorruptImage

Encoder = Callable[..., bytes]

# Measured over the `make bench` images plus Kodak 01-12 (benchmarks/encoders.py): see the README's table.
QUALITY_SLACK_DB = 0.25
# The search stays within [target - 2, 95]: below that, one step costs about a SSIMULACRA2 point, more than PSNR
# can vouch for (Kodak 04/09/10 lose over 2 points at target - 1 while PSNR still agrees).
QUALITY_BELOW_TARGET = 2
QUALITY_CEILING = 95
# PSNR rises by roughly this much per jpegli quality step near q85: the first guess of the search.
DB_PER_STEP = 0.25
MAX_PROBES = 4
PSNR_CAP_DB = 99.0  # an exact copy: finite, so flat images compare and step like any other
# Quality per extra format giving the JPEGs' mean SSIMULACRA2, interpolated from WebP q80/q88 and AVIF q60/q75 over
# 9 of the bench + Kodak images (78.9 for the JPEGs); `make bench` reports what they give. AVIF's speed 8 keeps its
# encode near 0.1 s for a 750 px image.
EXTRA_QUALITY = {"webp": 86, "avif": 72}
AVIF_SPEED = 8


@dataclass(frozen=True)
class Jpegli:
    encode: Encoder  # (rgb bytes, width, height, quality=) -> baseline JPEG
    optimize: Callable[[bytes], bytes]  # lossless: progressive + optimal Huffman tables


@lru_cache(maxsize=1)
def jpegli() -> Jpegli | None:
    """The jpegli encoder and mozjpeg's optimizer, or None when either cannot load (then Pillow encodes)."""
    try:
        import mozjpeg_lossless_optimization
        import pyjpegli
    except (ImportError, OSError):  # OSError: a wheel for another platform or a missing shared library
        return None
    return Jpegli(pyjpegli.encode, mozjpeg_lossless_optimization.optimize)


def jpeg_encoder(requested: str) -> str:
    """What `encode_jpeg` uses for RGB images with JPEG_ENCODER=`requested`: `jpegli` or `pillow`."""
    return "jpegli" if requested == "auto" and jpegli() is not None else "pillow"


def encode_jpeg(
    image: Image.Image, *, quality: int | None, target: int, encoder: str, progressive: bool
) -> tuple[bytes, int]:
    """The JPEG and the quality it was encoded at. `quality` None: chosen per image to look like libjpeg-turbo
    at `target` (Pillow, the fallback, simply encodes at `target`). Never any metadata."""
    if image.mode not in ("RGB", "L"):
        raise CorruptImage(f"cannot encode pixel mode {image.mode}")
    library = jpegli() if encoder == "auto" and image.mode == "RGB" else None
    if library is not None:
        try:
            data, used = _jpegli_encoded(library, image, quality, target)
            return library.optimize(data), used
        except (RuntimeError, ValueError):
            pass  # jpegli or mozjpeg refused this image: libjpeg-turbo still can
    return pillow_jpeg(image, quality or target, progressive=progressive), quality or target


def pillow_jpeg(image: Image.Image, quality: int, *, progressive: bool, optimize: bool = True) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=optimize, progressive=progressive)
    return buffer.getvalue()


def _jpegli_encoded(library: Jpegli, image: Image.Image, quality: int | None, target: int) -> tuple[bytes, int]:
    pixels = image.tobytes()

    def encode(q: int) -> bytes:
        return bytes(library.encode(pixels, image.width, image.height, quality=q))

    return (encode(quality), quality) if quality is not None else choose_quality(image, encode, target)


def choose_quality(image: Image.Image, encode: Callable[[int], bytes], target: int) -> tuple[bytes, int]:
    """The lowest jpegli quality (from target - QUALITY_BELOW_TARGET) whose PSNR is within QUALITY_SLACK_DB of libjpeg-turbo's
    at `target` on the same pixels. Starts from a guess, then steps or bisects: at most MAX_PROBES jpegli encodes."""
    goal = psnr(image, pillow_jpeg(image, target, progressive=False, optimize=False)) - QUALITY_SLACK_DB
    probes: dict[int, tuple[bytes, float]] = {}  # quality -> (JPEG, its PSNR)

    def probe(q: int) -> bool:
        if q not in probes:
            data = encode(q)
            probes[q] = data, psnr(image, data)
        return probes[q][1] >= goal

    # low is known to fail (or lies below the range), high known to pass (or lies above it)
    floor = max(1, target - QUALITY_BELOW_TARGET)
    low, high = floor - 1, QUALITY_CEILING + 1
    q = min(QUALITY_CEILING, target)
    for step in range(MAX_PROBES):
        if probe(q):
            high = q
        else:
            low = q
        if high - low <= 1:
            break
        q = _first_step(q, probes[q][1] - goal, low, high) if step == 0 else (low + high) // 2
    # out of probes: the lowest quality known to pass, or the ceiling when none did
    return (probes[high][0], high) if high in probes else (encode(QUALITY_CEILING), QUALITY_CEILING)


def _first_step(q: int, margin_db: float, low: int, high: int) -> int:
    """After the first probe: the quality the PSNR slope predicts, kept strictly inside (low, high)."""
    predicted = q - round(margin_db / DB_PER_STEP)
    return min(high - 1, max(low + 1, predicted))


def psnr(image: Image.Image, jpeg: bytes) -> float:
    """PSNR of a decoded JPEG against the pixels it encodes, over all three channels."""
    decoded = Image.open(io.BytesIO(jpeg)).convert(image.mode)
    squares = sum(ImageStat.Stat(ImageChops.difference(image, decoded)).sum2)
    mse = squares / (image.width * image.height * len(image.getbands()))
    return min(PSNR_CAP_DB, 10 * math.log10(255**2 / mse)) if mse else PSNR_CAP_DB


def encode_extra(image: Image.Image, fmt: str) -> bytes:
    """A WebP or AVIF sibling of a rendition, metadata-free, at the format's calibrated quality."""
    buffer = io.BytesIO()
    if fmt == "avif":
        image.save(buffer, "AVIF", quality=EXTRA_QUALITY[fmt], speed=AVIF_SPEED)
    else:
        image.save(buffer, "WEBP", quality=EXTRA_QUALITY[fmt], method=4)
    return buffer.getvalue()
