"""Decoding untrusted bytes: sniff the real format, guard the size, open with one allowed decoder."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import IO

from PIL import Image, ImageFile, UnidentifiedImageError

from ..errors import CorruptImage, ImageTooLarge, TruncatedImage, UnsupportedFormat

# Magic bytes -> the one Pillow decoder allowed to read them. Formats are decided from the content only.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
# Recognised but refused: named so the rejection says what the file really is.
_KNOWN_OTHERS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"),
    (b"8BPS", "PSD"),
    (b"<svg", "SVG"),
    (b"<?xml", "XML/SVG"),
    (b"<!doctype html", "HTML"),
    (b"<html", "HTML"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x00\x00\x00\x0cjxl ", "JPEG XL"),
    (b"\xff\x0a", "JPEG XL"),
    (b"qoif", "QOI"),
)
# Pillow names per sniffed format (MPO is Pillow's name for multi-picture JPEGs).
# The JPEG opener itself returns an MPO image for multi-picture files; "MPO" has no opener of its own, and
# naming it makes Pillow raise KeyError on a broken JPEG header instead of a parse error.
_DECODERS = {"JPEG": ["JPEG"], "HEIF": ["HEIF"], "AVIF": ["AVIF"]}
SUPPORTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "HEIF", "AVIF")
SNIFF_BYTES = 1024  # sniff_format looks no further


@dataclass(frozen=True)
class Decoded:
    image: Image.Image
    format: str
    width: int
    height: int


def sniff_format(data: bytes) -> str:
    """The format the bytes really are, or UnsupportedFormat naming what they look like."""
    if not data:
        raise UnsupportedFormat("empty file (0 bytes)")
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        box_size = int.from_bytes(data[:4], "big")
        brands = {data[i : i + 4] for i in range(8, min(max(box_size, 16), 256), 4)}
        if brands & _AVIF_BRANDS:
            return "AVIF"
        if brands & _HEIF_BRANDS:
            return "HEIF"
    if data.startswith(b"\x89PNG"):
        raise CorruptImage("corrupt PNG: the file signature is damaged")
    head = data[:256].lstrip().lower()
    for magic, name in _KNOWN_OTHERS:
        if head.startswith(magic.lower()):
            raise UnsupportedFormat(
                f"{name} is not a supported image format (supported: {', '.join(SUPPORTED_FORMATS)})"
            )
    if _looks_like_text(data[:SNIFF_BYTES]):
        raise UnsupportedFormat("not an image: the content is text")
    raise UnsupportedFormat(f"unrecognised file format (supported: {', '.join(SUPPORTED_FORMATS)})")


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char in "\r\n\t\f" for char in text)


def _register_heif() -> None:
    # pillow-heif is imported only when a HEIF file arrives: it is a heavy import for a cold start.
    from pillow_heif import register_heif_opener

    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def open_image(data: bytes | IO[bytes], *, max_pixels: int) -> Decoded:
    """Parse the header with the one decoder the content allows and check the pixel limit before decoding.
    `data` may be a seekable file still being received: for JPEG, PNG, GIF, TIFF and BMP only the header is read
    here and the pixels in load(), as they arrive (a TIFF whose directory sits at its end is received nearly
    whole here); the WebP, HEIF and AVIF openers read the whole file first."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    kind = sniff_format(stream.read(SNIFF_BYTES))
    stream.seek(0)
    if kind == "HEIF":
        _register_heif()
    # Pillow's own bomb check runs inside open(); aligning it with MAX_PIXELS keeps one limit in force.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(stream, formats=_DECODERS.get(kind, [kind]))
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{kind} declares more pixels than the limit MAX_PIXELS={max_pixels}") from None
    except UnidentifiedImageError:
        raise CorruptImage(f"corrupt {kind}: the header is not valid {kind}") from None
    except (SyntaxError, OSError, ValueError, EOFError, struct.error, KeyError, RuntimeError) as error:
        # (RuntimeError: Pillow's AVIF opener, on a damaged file)
        if "too large" in str(error).lower():
            raise ImageTooLarge(
                f"{kind} metadata chunk decompresses to more data than allowed (a decompression bomb)"
            ) from None
        raise CorruptImage(f"corrupt {kind}: cannot parse the header ({_reason(error)})") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImage(f"corrupt {kind}: declares a {width}x{height} image")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{kind} is {width}x{height} = {width * height / 1e6:.1f} MP, over the limit MAX_PIXELS={max_pixels}"
        )
    return Decoded(image, kind, width, height)


def check_full_decode(decoded: Decoded, limit: int) -> None:
    """Decoders without reduced-size decoding hold the whole image (HEIF peaks at ~7 bytes a pixel)."""
    pixels = decoded.width * decoded.height
    if pixels > limit:
        raise ImageTooLarge(
            f"{decoded.format} is {decoded.width}x{decoded.height} = {pixels / 1e6:.1f} MP; {decoded.format} is decoded"
            f" at full size and the limit is MAX_FULL_DECODE_PIXELS={limit}"
        )


def draft_three_eighths(image: Image.Image) -> bool:
    """Make a JPEG decode at 3/8 of its size, a DCT scale Pillow's draft() does not offer (1/2, 1/4, 1/8 only):
    for a main image needing 0.25-0.375 of the source (3024 px wide phone portraits, for one), 1/2 would
    decode and resample nearly twice the pixels. Asked for 1/3, libjpeg-turbo's IDCT scaling takes the
    smallest M/8 at or above it, 3/8 (each 8x8 block becomes 3x3 pixels); the image is sized to
    ceil(3/8 of each side) to match, as draft() sizes its own. Only with libjpeg-turbo, whose rounding this
    relies on, and before any other draft(); False leaves the image as it was."""
    from PIL import JpegImagePlugin

    if not (isinstance(image, JpegImagePlugin.JpegImageFile) and _libjpeg_turbo()):
        return False
    if len(image.tile) != 1 or image.decoderconfig:
        return False
    tile = image.tile[0]
    size = ((image.width * 3 + 7) // 8, (image.height * 3 + 7) // 8)
    image.tile = [ImageFile._Tile(tile.codec_name, (0, 0, *size), tile.offset, tile.args)]
    image._size = size
    image.decoderconfig = (3, 0)  # (scale denominator, draft mode off): what draft() sets, with 3
    return True


@lru_cache(maxsize=1)
def _libjpeg_turbo() -> bool:
    from PIL import features

    return bool(features.check_feature("libjpeg_turbo"))


def load(decoded: Decoded) -> Image.Image:
    """Decode the pixels (after any draft()); truncated or corrupt data is rejected, never half-used."""
    image = decoded.image
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
    except MemoryError:
        raise ImageTooLarge(f"{decoded.format} {decoded.width}x{decoded.height} does not fit in memory") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, RuntimeError) as error:
        reason = _reason(error)
        if "truncated" in reason.lower() or "premature end" in reason.lower():
            raise TruncatedImage(f"truncated {decoded.format}: the file ends before the image data does") from None
        if "too large" in reason.lower():
            raise ImageTooLarge(f"{decoded.format} decompresses to more data than allowed ({reason})") from None
        raise CorruptImage(f"corrupt {decoded.format}: {reason}") from None
    return image


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]
