"""What a page needs before an image arrives: a ThumbHash placeholder, the average colour, and every rendition's
size. Computed once from the finished main image (pipeline.optimize) and written into every rendition's
metadata (aws/renditions.py), so one HEAD of any rendition tells a client (contrib.django) how to lay the image out.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from ..specs import MAIN, Fit, ThumbnailSpec
from . import thumbhash

# The hash keeps 7 frequencies a side: a 32 px image holds them (Nyquist: 14 samples), and encodes in ~1 ms where
# the reference's 100 px limit takes ~10 ms in pure Python; the samples' hashes are the same at both sizes.
ENCODE_SIDE = 32

# User metadata keys (x-amz-meta-...), documented in the README.
THUMBHASH = "thumbhash"
AVERAGE_COLOR = "average-color"
WIDTH = "width"
HEIGHT = "height"
RENDITIONS = "renditions"


@dataclass(frozen=True)
class Placeholder:
    thumbhash: bytes
    average_color: str  # "#rrggbb", sRGB

    @property
    def thumbhash_base64(self) -> str:
        return base64.b64encode(self.thumbhash).decode()


def of_image(image: Image.Image) -> Placeholder:
    """The placeholder of a finished (upright, sRGB, flattened) image, from a copy at most ENCODE_SIDE px a side."""
    scale = min(1.0, ENCODE_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0) if size != image.size else image
    red, green, blue = small.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    return Placeholder(
        thumbhash.rgba_to_thumbhash(small.width, small.height, small.convert("RGBA").tobytes()),
        f"#{red:02x}{green:02x}{blue:02x}",
    )


@dataclass(frozen=True)
class RenditionSize:
    name: str
    width: int
    height: int
    fit: Fit  # "fit": the whole picture (a srcset candidate); "crop": a part of it

    def __str__(self) -> str:
        return f"{self.name}:{self.width}x{self.height}:{self.fit}"


_SIZE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*):(?P<w>[0-9]+)x(?P<h>[0-9]+):(?P<fit>fit|crop)$")


def sizes(renditions: Iterable[tuple[str, int, int]], thumbnails: Iterable[ThumbnailSpec]) -> list[RenditionSize]:
    """Each (name, width, height) rendition with the way it was cut: the main keeps the whole picture."""
    # a smart crop is a crop: a part of the picture, never a srcset candidate
    fits: dict[str, Fit] = {spec.name: "crop" if spec.crops else "fit" for spec in thumbnails}
    fits[MAIN] = "fit"
    return [RenditionSize(name, width, height, fits[name]) for name, width, height in renditions]


def format_sizes(renditions: Iterable[RenditionSize]) -> str:
    """`main:750x500:fit,thumb:150x150:crop,...`: the THUMBNAILS syntax with the real sizes."""
    return ",".join(map(str, renditions))


def parse_sizes(text: str) -> list[RenditionSize]:
    """The inverse of format_sizes; items it cannot read are left out (metadata written by another version)."""
    found = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _SIZE.match(item)
        if match:
            fit: Fit = "crop" if match["fit"] == "crop" else "fit"
            found.append(RenditionSize(match["name"], int(match["w"]), int(match["h"]), fit))
    return found


def metadata(placeholder: Placeholder | None, width: int, height: int, all_sizes: str) -> dict[str, str]:
    """The page's fields of one rendition's user metadata: its own size, and the upload's placeholder and sizes."""
    fields = {WIDTH: str(width), HEIGHT: str(height), RENDITIONS: all_sizes}
    if placeholder is not None:
        fields |= {THUMBHASH: placeholder.thumbhash_base64, AVERAGE_COLOR: placeholder.average_color}
    return fields


# S3 refuses user metadata over 2 KB (keys and values, UTF-8; counted here with their x-amz-meta- prefix, to be safe).
S3_MAX_METADATA_BYTES = 2048
_DROP_ORDER = (RENDITIONS, THUMBHASH, AVERAGE_COLOR, WIDTH, HEIGHT)  # what matters least to a page goes first


def merged(provenance: dict[str, str], page: dict[str, str]) -> dict[str, str]:
    """A rendition's metadata: the provenance fields whole (they decide what may be overwritten), then as many of
    the page's as S3 takes. Only a source key near S3's 1,024-byte limit with many thumbnails comes close."""

    def size(fields: dict[str, str]) -> int:
        return sum(len(f"x-amz-meta-{key}".encode()) + len(value.encode()) for key, value in fields.items())

    fields = {**provenance, **page}
    for key in _DROP_ORDER:
        if size(fields) <= S3_MAX_METADATA_BYTES:
            break
        fields.pop(key, None)
    return fields
