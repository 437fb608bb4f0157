"""Pixel formats: bring any decoded mode to 8-bit sRGB (or gray) without alpha."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageChops

from ..errors import CorruptImage

if TYPE_CHECKING:
    from PIL import ImageCms

_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_GRAY = {"1", "L", "LA", "La", *_SIXTEEN_BIT}
_FOREIGN_RGB = {"YCbCr", "LAB", "HSV"}


def is_grayscale(image: Image.Image) -> bool:
    if image.mode in _GRAY:
        return True
    if image.mode in ("P", "PA") and image.palette is not None:
        try:
            colors = image.palette.colors
        except ValueError:  # a palette longer than its mode allows (a BMP's colour count field, for one)
            raise CorruptImage(f"corrupt {image.format or 'image'}: invalid palette") from None
        return bool(colors) and all(len(set(color[:3])) == 1 for color in colors)
    return False


# Pixels converted at a time from a wide mode (I;16, I, F) to L: the whole image would take a full-size 32-bit
# copy (and a second one while scaling): 10-12 bytes a pixel at the peak, past a 1024 MB function at 100 MP. By
# pixels, not rows: each band costs Pillow ~3 ms to take the lookup table, so a 1-px-wide strip in 256-row bands
# took 23 s for 2 MP.
WIDE_MODE_BAND_PIXELS = 4_000_000


def band_rows(width: int) -> int:
    return max(1, WIDE_MODE_BAND_PIXELS // width)


def to_8bit(image: Image.Image) -> Image.Image:
    """Modes that JPEG or ImageCms cannot take -> L, LA, RGB, RGBA or CMYK, scaling 16-bit data (not clipping)."""
    mode = image.mode
    if mode in _SIXTEEN_BIT or mode == "F":
        return _banded_to_gray(image)
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in ("L", "RGB") and "transparency" in image.info:
        # A PNG colour-key (tRNS) is transparency too.
        return image.convert("LA" if mode == "L" else "RGBA")
    if mode in ("La", "RGBa"):
        return image.convert(mode.upper())
    if mode in _FOREIGN_RGB:
        return image.convert("RGB")
    return image


def _banded_to_gray(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer data (0..65535 -> 0..255: Pillow's own conversion clips instead of scaling), or
    float data (0..1), to L, a band of rows (WIDE_MODE_BAND_PIXELS) at a time: the peak is the source plus the
    8-bit result.
    A 16-bit PNG's colour key (tRNS) becomes an alpha channel: LA."""
    key = image.info.get("transparency") if image.mode != "F" else None
    key = key if isinstance(key, int) and 0 <= key <= 65535 else None
    gray = Image.new("L", image.size)
    transparent = _transparent_where(key) if key is not None else None
    alpha = Image.new("L", image.size) if transparent is not None else None
    rows = band_rows(image.width)
    for top in range(0, image.height, rows):
        band = image.crop((0, top, image.width, min(image.height, top + rows)))
        if image.mode == "F":
            gray.paste(band.point(lambda value: value * 255).convert("L"), (0, top))
            continue
        wide = band if image.mode == "I" else band.convert("I")
        gray.paste(wide.point(_sixteen_to_eight(), "L"), (0, top))
        if alpha is not None and transparent is not None:
            alpha.paste(wide.point(transparent, "L"), (0, top))
    return Image.merge("LA", (gray, alpha)) if alpha is not None else gray


@lru_cache(maxsize=4)
def _transparent_where(key: int) -> list[int]:
    return [0 if value == key else 255 for value in range(65536)]


@lru_cache(maxsize=1)
def _sixteen_to_eight() -> list[int]:
    """A lookup table over 0..65535 (Pillow clips I values outside it to its ends)."""
    return [value // 257 for value in range(65536)]


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


DEFAULT_CMYK_PROFILE = Path(__file__).with_name("profiles") / "FOGRA39L_coated.icc"


@lru_cache(maxsize=1)
def _default_cmyk_profile() -> bytes:
    return DEFAULT_CMYK_PROFILE.read_bytes()


@lru_cache(maxsize=32)
def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    # ImageCms is imported on the first tagged image only; transforms are cached per profile.
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(
            source, _srgb(), in_mode, out_mode, renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
        named_srgb = in_mode != "CMYK" and "srgb" in (ImageCms.getProfileDescription(source) or "").lower()
        return None if named_srgb and _leaves_unchanged(transform, in_mode) else transform
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # An unreadable profile is ignored: the pixels are treated as sRGB.


SRGB_TOLERANCE = 1  # levels: an sRGB IEC61966-2.1 profile maps onto LittleCMS's own sRGB within one


def _leaves_unchanged(transform: ImageCms.ImageCmsTransform, in_mode: str) -> bool:
    """Is a profile named sRGB really sRGB? Judged by what its transform does to a grid of colours: a linear-light
    profile called "sRGB-elle-V2-g10" must be converted. Only then do its images skip the transform (any other
    profile is converted, as it always was)."""
    levels = range(0, 256, 15)
    colours = (
        [(r, g, b) for r in levels for g in levels for b in levels] if in_mode != "L" else [(v,) * 3 for v in levels]
    )
    probe = Image.new("RGB", (len(colours), 1))
    probe.putdata(colours)
    converted = transform.apply(probe.convert(in_mode)).convert("RGB")
    return max(ImageChops.difference(probe, converted).tobytes()) <= SRGB_TOLERANCE


def to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert with the embedded ICC profile (LittleCMS, perceptual intent); untagged input is taken as sRGB."""
    if image.mode == "LA":
        image = image.convert("RGBA") if icc else image
    out_mode = {"CMYK": "RGB", "L": "RGB"}.get(image.mode, image.mode)
    transform = _transform(icc, image.mode, out_mode) if icc and image.mode in ("RGB", "RGBA", "L", "CMYK") else None
    if transform is not None:
        converted = transform.apply(image)
        converted.info = {}
        if image.mode == "L":
            converted = converted.convert("L")
        return converted
    if image.mode == "CMYK":
        return cmyk_to_rgb(image)
    return image


def cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK without a usable profile: convert as FOGRA39 coated offset (ISO Coated v2), the usual press default."""
    transform = _transform(_default_cmyk_profile(), "CMYK", "RGB")
    if transform is None:  # the bundled profile is missing: fall back to the plain device conversion
        return image.convert("RGB")
    converted = transform.apply(image)
    converted.info = {}
    return converted


def flatten(image: Image.Image, background: tuple[int, int, int], *, grayscale: bool) -> Image.Image:
    """Composite alpha onto the background colour; gray input on a gray background stays gray."""
    gray_background = background[0] == background[1] == background[2]
    if image.mode in ("RGBA", "LA"):
        base = Image.new("RGB", image.size, background)
        base.paste(image.convert("RGBA"), mask=image.getchannel("A"))
        image = base
    if grayscale and gray_background and image.mode != "L":
        return image.convert("L")
    return image
