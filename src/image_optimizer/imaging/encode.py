"""Encoding a finished rendition: image in, bytes out. Pure, like the rest of the pipeline.

JPEG, by default: jpegli (jpegli.py), progressive with optimal Huffman tables, at a quality chosen per image:
the lowest whose PSNR stays within QUALITY_SLACK_DB of what libjpeg-turbo at the target quality gives the same
pixels (a fixed quality wastes bytes on easy images and starves hard ones), one step lower for heavy images.
The search probes with baseline encodes (a quarter of the cost, identical pixels); only the chosen quality is
encoded progressive.
`JPEG_QUALITY` fixes the quality instead. Pillow/libjpeg-turbo is the fallback when jpegli cannot load (or
refuses an image), and encodes grayscale, which this binding does not.

WebP and AVIF siblings (EXTRA_FORMATS) use one quality per format, calibrated so their mean SSIMULACRA2 over the
benchmark images matches the JPEGs' (`make bench` reports both).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageChops, ImageStat

from ..errors import CorruptImage

if TYPE_CHECKING:
    from .jpegli import JpegliEncoder

# Measured over the `make bench` images plus Kodak 01-12 (benchmarks/encoders.py): see the README's table.
QUALITY_SLACK_DB = 0.25
# The search stays within [target - 2, 95]: below that, one step costs about a SSIMULACRA2 point, more than PSNR
# can vouch for (Kodak 04/09/10 lose over 2 points at target - 1 while PSNR still agrees).
QUALITY_BELOW_TARGET = 2
QUALITY_CEILING = 95
# PSNR rises by roughly this much per jpegli quality step near q85: the first guess of the search.
DB_PER_STEP = 0.25
MAX_PROBES = 4
SAMPLE_BAND = 32  # rows per band of the search's sample: two 4:2:0 MCU rows
# The sample keeps about this many rows, spread from top to bottom (every other band at least, so a 750x500 main
# keeps half its rows as before): a portrait main's probes cost half of what every other band cost, and its
# statistics come from as many pixels as a landscape main's. In make bench (with _next_step) the portrait photos
# took 8-16 % less time; over its 27 images two chose one step lower (Kodak 10, now 1.35 points below its seed
# counterpart, and the iPhone XS AVIF), main bytes -0.3 %, every image within 1.89 points as before.
SAMPLE_ROWS = 256
MIN_SAMPLE_BANDS = 4  # smaller images are measured whole
# Below this PSNR gain per quality step between two probes, the search bisects instead of interpolating.
MIN_DB_PER_STEP = 0.05
PSNR_CAP_DB = 99.0  # an exact copy: finite, so flat images compare and step like any other
# Quality per extra format giving the JPEG mains' mean SSIMULACRA2 over the 27 bench + Kodak images: WebP q86 is
# 0.41 below it, q88 1.54 above; AVIF q69 0.93 below, q72 0.61 above, so q71. `make bench` reports what they give.
# Thumbnails likewise, against the JPEG thumbnails' mean over the same images (crop / fit): WebP q84 +0.33 / +0.39;
# AVIF q69 -0.38 / +0.33, q72 +0.91 / +1.60, so q70. AVIF's speed 8 keeps its encode near 0.1 s for a 750 px image.
# (Calibrated before SAMPLE_ROWS, which moved the JPEG mains' mean by -0.04.)
EXTRA_QUALITY = {"webp": 86, "avif": 71}
EXTRA_THUMBNAIL_QUALITY = {"webp": 84, "avif": 70}
# Heavy images (over this many bits per pixel in the search's probe at the target) get one step below what the
# search found. A step costs about the same SSIMULACRA2 (~0.8 points) on every bench image, but saves the most
# bytes where there are the most: over the bench + Kodak images (`make bench`), total main bytes -20.8 % instead of
# -19.1 %, mean score -0.37 instead of -0.08 against the seed, worst image unchanged (-1.89). (Measured before
# SAMPLE_ROWS; with it: -21.0 %, -0.41, -1.89.)
HEAVY_BITS_PER_PIXEL = 1.5
# Thumbnails are encoded without jpegli's adaptive quantization: on 150 and 320 px thumbnails of the bench +
# Kodak images it scores 4-5 SSIMULACRA2 points lower at the same quality for ~12 % fewer bytes, a bad trade (on
# the 750 px main it is a good one). Without it a quality step buys less, so when jpegli chose the main's quality
# the thumbnails take this many steps below it: -21.8 % / -22.7 % bytes against the seed's (crop / fit), every
# thumbnail within 1.44 points of its seed counterpart; nine steps drop the hardest fit thumbnail 3 points.
THUMBNAIL_QUALITY_STEPS = 8
AVIF_SPEED = 8


@dataclass(frozen=True)
class JpegOptions:
    """How a JPEG is written, apart from its quality."""

    progressive: bool = True  # libjpeg-turbo only: with jpegli every rendition is progressive (_jpegli_encoded)
    subsampled: bool = True  # 4:2:0 chroma; 4:4:4 when False (more bytes at every score, thumbnails too: README)
    adaptive: bool = True  # jpegli's adaptive quantization


MAIN_JPEG = JpegOptions()
# Thumbnails: without adaptive quantization (above), whatever their quality came from; baseline when libjpeg-turbo
# writes them, as the seed did.
THUMBNAIL_JPEG = JpegOptions(progressive=False, adaptive=False)


def jpegli() -> JpegliEncoder | None:
    """The jpegli encoder (loaded once per process, on first use: ctypes stays out of the cold-start import)."""
    from .jpegli import load

    return load()


def _jpegli_for(image: Image.Image, requested: str) -> JpegliEncoder | None:
    """jpegli when it encodes `image` with JPEG_ENCODER=`requested`: RGB only (the binding's), `auto` only."""
    return jpegli() if requested == "auto" and image.mode == "RGB" else None


def thumbnail_quality(main: Image.Image, main_quality: int | None, *, fixed: int | None, encoder: str) -> int | None:
    """The thumbnails' quality, given the main image's: THUMBNAIL_QUALITY_STEPS below it when jpegli searched it;
    the same when it was fixed (JPEG_QUALITY) or libjpeg-turbo encoded it at the target."""
    if main_quality is None or fixed is not None or _jpegli_for(main, encoder) is None:
        return main_quality
    return max(1, main_quality - THUMBNAIL_QUALITY_STEPS)


def jpeg_encoder(requested: str) -> str:
    """What `encode_jpeg` uses for RGB images with JPEG_ENCODER=`requested`: `jpegli` or `pillow`."""
    return "jpegli" if requested == "auto" and jpegli() is not None else "pillow"


def encode_jpeg(
    image: Image.Image, *, quality: int | None, target: int, encoder: str, options: JpegOptions = MAIN_JPEG
) -> tuple[bytes, int]:
    """The JPEG and the quality it was encoded at. `quality` None: chosen per image to look like libjpeg-turbo
    at `target` (Pillow, the fallback, simply encodes at `target`). Never any metadata."""
    if image.mode not in ("RGB", "L"):
        raise CorruptImage(f"cannot encode pixel mode {image.mode}")
    library = _jpegli_for(image, encoder)
    if library is not None:
        try:
            return _jpegli_encoded(library, image, quality, target, options)
        except (RuntimeError, ValueError):
            pass  # jpegli refused this image: libjpeg-turbo still can
    fixed = quality or target
    return pillow_jpeg(image, fixed, progressive=options.progressive, subsampled=options.subsampled), fixed


def pillow_jpeg(
    image: Image.Image, quality: int, *, progressive: bool, optimize: bool = True, subsampled: bool = True
) -> bytes:
    buffer = io.BytesIO()
    chroma = {} if subsampled else {"subsampling": "4:4:4"}  # Pillow writes 4:2:0 by default, at any quality
    image.save(buffer, "JPEG", quality=quality, optimize=optimize, progressive=progressive, **chroma)
    return buffer.getvalue()


def _jpegli_encoded(
    library: JpegliEncoder, image: Image.Image, quality: int | None, target: int, options: JpegOptions
) -> tuple[bytes, int]:
    def encode(picture: Image.Image, q: int, progressive: bool = False) -> bytes:
        return library.encode(
            picture.tobytes(),
            picture.width,
            picture.height,
            quality=q,
            progressive=progressive,
            subsampled=options.subsampled,
            adaptive=options.adaptive,
        )

    if quality is None:
        quality = choose_quality(image, encode, target)
    return encode(image, quality, progressive=True), quality


def choose_quality(image: Image.Image, encode: Callable[[Image.Image, int], bytes], target: int) -> int:
    """The lowest jpegli quality (from target - QUALITY_BELOW_TARGET) whose PSNR is within QUALITY_SLACK_DB of
    libjpeg-turbo's at `target` on the same pixels, one lower for a heavy image (HEAVY_BITS_PER_PIXEL). Measured
    on a sample of the rows (`row_sample`). Starts from a guess, then follows the margins (`_next_step`): at most
    MAX_PROBES baseline jpegli encodes of the sample."""
    sample = row_sample(image)
    goal = psnr(sample, pillow_jpeg(sample, target, progressive=False, optimize=False)) - QUALITY_SLACK_DB
    margins: dict[int, float] = {}  # quality -> its PSNR above the goal
    sizes: dict[int, int] = {}  # quality -> bytes of the sample's probe

    def passes(q: int) -> bool:
        if q not in margins:
            probe = encode(sample, q)
            margins[q], sizes[q] = psnr(sample, probe) - goal, len(probe)
        return margins[q] >= 0

    # low is known to fail (or lies below the range), high known to pass (or lies above it)
    floor = max(1, target - QUALITY_BELOW_TARGET)
    low, high = floor - 1, QUALITY_CEILING + 1
    q = first = min(QUALITY_CEILING, target)
    previous = None
    for _ in range(MAX_PROBES):
        if passes(q):
            high = q
        else:
            low = q
        if high - low <= 1:
            break
        previous, q = q, _next_step(margins, q, previous, low, high)
    chosen = min(high, QUALITY_CEILING)  # out of probes: the lowest quality known to pass, else the ceiling
    heavy = 8 * sizes[first] > HEAVY_BITS_PER_PIXEL * sample.width * sample.height
    return max(1, chosen - 1) if heavy else chosen


def row_sample(image: Image.Image) -> Image.Image:
    """One band of SAMPLE_BAND rows in every `stride`, stacked: about SAMPLE_ROWS rows from top to bottom, half
    the rows at most, on the same block grid as the whole image (the band height is a multiple of the 4:2:0 MCU),
    so quantisation errors match the full encode's."""
    stride = max(2, round(image.height / SAMPLE_ROWS))
    bands = range(0, image.height - SAMPLE_BAND + 1, stride * SAMPLE_BAND)
    if len(bands) < MIN_SAMPLE_BANDS:
        return image
    sample = Image.new(image.mode, (image.width, len(bands) * SAMPLE_BAND))
    for index, top in enumerate(bands):
        sample.paste(image.crop((0, top, image.width, top + SAMPLE_BAND)), (0, index * SAMPLE_BAND))
    return sample


def _next_step(margins: dict[int, float], q: int, previous: int | None, low: int, high: int) -> int:
    """The next quality to probe, kept strictly inside (low, high). After the first probe, the one DB_PER_STEP
    predicts; after more, the lowest quality the line through the last two probes' margins predicts to pass (the
    margin is close to linear in quality near the answer). Halving the interval instead could run out of probes
    short of the lowest passing quality (the Canon 1000D photo with SAMPLE_ROWS: 90, not 89); on the margins of
    the 34 bench + Kodak + holdout images at every quality, this finds it on all, in 3 probes at most. Bisection
    when the two do not rise with quality."""
    if previous is None:
        predicted = q - round(margins[q] / DB_PER_STEP)
    else:
        slope = (margins[q] - margins[previous]) / (q - previous)
        rising = slope >= MIN_DB_PER_STEP
        predicted = math.ceil(q - margins[q] / slope - 1e-9) if rising else (low + high) // 2
    return min(high - 1, max(low + 1, predicted))


def psnr(image: Image.Image, jpeg: bytes) -> float:
    """PSNR of a decoded JPEG against the pixels it encodes, over all three channels."""
    decoded = Image.open(io.BytesIO(jpeg)).convert(image.mode)
    squares = sum(ImageStat.Stat(ImageChops.difference(image, decoded)).sum2)
    mse = squares / (image.width * image.height * len(image.getbands()))
    return min(PSNR_CAP_DB, 10 * math.log10(255**2 / mse)) if mse else PSNR_CAP_DB


def encode_extra(image: Image.Image, fmt: str, *, thumbnail: bool = False) -> bytes:
    """A WebP or AVIF sibling of a rendition, metadata-free, at the format's calibrated quality for a main image
    or a thumbnail."""
    buffer = io.BytesIO()
    quality = (EXTRA_THUMBNAIL_QUALITY if thumbnail else EXTRA_QUALITY)[fmt]
    # save() keeps its options on the image object while it runs (encoderinfo): on a copy, so that another thread
    # saving the same picture meanwhile (its JPEG, its other sibling) cannot mix the two encodes' options.
    image = image.copy()
    if fmt == "avif":
        image.save(buffer, "AVIF", quality=quality, speed=AVIF_SPEED)
    else:
        image.save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()
