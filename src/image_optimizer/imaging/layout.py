"""Where each rendition comes from: EXIF orientation, the upright size, and every rendition's output size and
source region (its plan). Pure geometry on sizes and boxes; the pixels are pipeline.py's."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from ..specs import MAIN, PipelineConfig, ThumbnailSpec

if TYPE_CHECKING:
    from .decode import Decoded

Box = tuple[float, float, float, float]

# EXIF orientation -> the transpositions that make the image upright (as PIL.ImageOps.exif_transpose).
_UPRIGHT: dict[int, tuple[Image.Transpose, ...]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Plan:
    """Output size and source region of one rendition, in upright source pixels."""

    name: str
    size: tuple[int, int]
    box: Box


def box_to_stored(box: Box, upright: tuple[int, int], orientation: int) -> Box:
    """A region of the upright image, in the coordinates of the pixels as stored (EXIF orientation 1-8)."""
    left, top, right, bottom = box
    width, height = upright
    return {
        1: (left, top, right, bottom),
        2: (width - right, top, width - left, bottom),
        3: (width - right, height - bottom, width - left, height - top),
        4: (left, height - bottom, right, height - top),
        5: (top, left, bottom, right),
        6: (top, width - right, bottom, width - left),
        7: (height - bottom, width - right, height - top, width - left),
        8: (height - bottom, left, height - top, right),
    }[orientation]


def read_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # A broken EXIF block must not reject an otherwise good image.
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def fit_size(width: int, height: int, max_width: float, max_height: float) -> tuple[int, int]:
    """Largest size within the bounds keeping the aspect ratio; never larger than the source, never 0."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def crop_plan(width: int, height: int, box_width: int, box_height: int) -> tuple[Box, tuple[int, int]]:
    """Centre crop filling the box. A source too small for the box keeps its own pixels (no upscaling)."""
    scale = max(box_width / width, box_height / height)
    if scale >= 1:
        crop_w = min(width, max(1, round(height * box_width / box_height)))
        crop_h = min(height, max(1, round(width * box_height / box_width)))
        size = (crop_w, crop_h)
        region_w, region_h = float(crop_w), float(crop_h)
    else:
        size = (box_width, box_height)
        region_w, region_h = box_width / scale, box_height / scale
    # Clamped: box / scale can land a hair outside the image in floating point (247 px -> 247.00000000000003).
    left, top = max(0.0, (width - region_w) / 2), max(0.0, (height - region_h) / 2)
    return (left, top, min(float(width), left + region_w), min(float(height), top + region_h)), size


# The largest side each output format can hold: libjpeg's and jpegli's JPEG_MAX_DIMENSION, WebP's 14-bit sizes.
# A very tall main (MAX_HEIGHT unset) is scaled down to fit instead of failing its encode on every retry.
JPEG_MAX_SIDE = 65_500
WEBP_MAX_SIDE = 16_383


def largest_side(config: PipelineConfig) -> int:
    return WEBP_MAX_SIDE if "webp" in config.extra_formats else JPEG_MAX_SIDE


def plan_renditions(upright: tuple[int, int], config: PipelineConfig) -> list[Plan]:
    width, height = upright
    whole: Box = (0.0, 0.0, float(width), float(height))
    side = largest_side(config)
    main = fit_size(width, height, min(config.max_width, side), min(config.max_height or math.inf, side))
    plans = [Plan(MAIN, main, whole)]
    for spec in config.thumbnails:
        plans.append(_thumbnail_plan(width, height, spec, whole, config.focus))
    return plans


def _thumbnail_plan(
    width: int, height: int, spec: ThumbnailSpec, whole: Box, focus: tuple[float, float] | None = None
) -> Plan:
    """A crop starts centred; the client's focal point, when given, moves every crop (crop.py moves `smart`
    ones without one, once it has the pixels)."""
    if spec.crops:
        box, size = crop_plan(width, height, spec.width, spec.height)
        return Plan(spec.name, size, centred_on(box, (width, height), focus) if focus else box)
    return Plan(spec.name, fit_size(width, height, spec.width, spec.height), whole)


def centred_on(box: Box, size: tuple[int, int], point: tuple[float, float]) -> Box:
    """`box` moved (never resized) so that `point` (fractions of `size`) is as central in it as the image allows."""
    left, top, right, bottom = box
    box_w, box_h = right - left, bottom - top
    x = min(max(point[0] * size[0] - box_w / 2, 0.0), size[0] - box_w)
    y = min(max(point[1] * size[1] - box_h / 2, 0.0), size[1] - box_h)
    # Clamped as in crop_plan: x + box_w can land a hair past the edge in floating point.
    return (x, y, min(float(size[0]), x + box_w), min(float(size[1]), y + box_h))


def needed_scale(plans: list[Plan]) -> float:
    """The largest output/source ratio over all renditions: decoding finer than this is wasted."""
    return max(max(p.size[0] / (p.box[2] - p.box[0]), p.size[1] / (p.box[3] - p.box[1])) for p in plans)


@dataclass(frozen=True)
class Layout:
    orientation: int
    upright: tuple[int, int]
    plans: list[Plan]


def lay_out(decoded: Decoded, image: Image.Image, config: PipelineConfig) -> Layout:
    """EXIF orientation, the upright size and every rendition's plan, worked out once per image."""
    orientation = read_orientation(image)
    upright = upright_size(decoded.width, decoded.height, orientation)
    return Layout(orientation, upright, plan_renditions(upright, config))


def orient(image: Image.Image, orientation: int) -> Image.Image:
    for method in _UPRIGHT.get(orientation, ()):
        image = image.transpose(method)
    return image
