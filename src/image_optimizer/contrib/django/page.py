"""What a page needs to show one stored image without layout shift: `image_info` (size, placeholder, every
rendition's width, from one HEAD of the main rendition) and `render_image`, the markup behind
`{% optimized_image %}`: `<img src srcset sizes width height loading decoding alt>` over its ThumbHash placeholder,
in a `<picture>` with AVIF/WebP sources when the function writes them."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ...imaging.placeholder import AVERAGE_COLOR, RENDITIONS, THUMBHASH, RenditionSize, parse_sizes
from ...imaging.thumbhash import thumbhash_to_data_url
from ...specs import CONTENT_TYPES, MAIN
from .helpers import PICTURE_ORDER, _resolve
from .storage import IncomingImageStorage

# Once every rendition of an upload exists, that stays true: the readiness check (a HEAD per rendition) is cached.
READY_CACHE_SECONDS = 24 * 3600
NEUTRAL = "#e2e2e2"  # the box of an upload nothing is known about yet
NEUTRAL_RATIO = "3 / 2"
REJECTED_TEXT = "This image could not be processed."
_COLOUR = re.compile(r"#[0-9a-f]{6}")


@dataclass(frozen=True)
class ImageInfo:
    """One stored image as its main rendition's metadata describes it (placeholder.py writes it)."""

    name: str
    width: int  # the main rendition's
    height: int
    thumbhash: str  # base64; "" when the renditions predate placeholders
    average_color: str  # "#rrggbb", or ""
    renditions: tuple[RenditionSize, ...]  # every JPEG rendition's real size
    ready: bool  # every rendition is written, not only the main

    @property
    def placeholder_url(self) -> str:
        """The decoded ThumbHash as a PNG data URL ("" without one)."""
        return placeholder_data_url(self.thumbhash) if self.thumbhash else ""

    @property
    def by_name(self) -> dict[str, RenditionSize]:
        """Each rendition's size by name: `{{ info.by_name.small.width }}` in a template."""
        return {size.name: size for size in self.renditions}

    @property
    def whole_picture(self) -> list[RenditionSize]:
        """The renditions that keep the whole picture (the main, every `fit` thumbnail), narrowest first, one per
        width: srcset's candidates."""
        by_width: dict[int, RenditionSize] = {}
        for size in sorted(self.renditions, key=lambda size: (size.width, size.name != MAIN)):
            if size.fit == "fit":
                by_width.setdefault(size.width, size)
        return list(by_width.values())


@lru_cache(maxsize=4096)
def placeholder_data_url(thumbhash: str) -> str:
    """Decoding costs ~10 ms of pure Python, so each hash is decoded once per process."""
    try:
        return thumbhash_to_data_url(base64.b64decode(thumbhash, validate=True))
    except (binascii.Error, ValueError, IndexError):
        return ""  # not a hash this code wrote: no placeholder rather than a broken page


def image_info(name: Any, storage: IncomingImageStorage | None = None) -> ImageInfo | None:
    """The info of a stored name or FieldFile, or None while its main rendition does not exist (pending, rejected,
    or an empty field). One HEAD of the main, plus one per other rendition until all exist (then remembered in
    Django's default cache)."""
    name, storage = _resolve(name, storage)
    if not name:
        return None
    head = storage.head(storage.rendition_key(name))
    if head is None:
        return None
    metadata = head.get("Metadata", {})
    sizes = tuple(parse_sizes(metadata.get(RENDITIONS, "")))
    main = next((size for size in sizes if size.name == MAIN), None)
    width, height = (main.width, main.height) if main else _int_pair(metadata)
    # Keyed on the main's ETag: a new upload under a name freed by delete() is looked at afresh.
    ready_key = f"image-optimizer:ready:{storage.bucket_name}:{storage.rendition_key(name)}:{head.get('ETag')}"
    ready = bool(cache.get(ready_key)) or storage.is_ready(name)
    if ready:
        cache.set(ready_key, True, READY_CACHE_SECONDS)
    colour = metadata.get(AVERAGE_COLOR, "")
    colour = colour if _COLOUR.fullmatch(colour) else ""  # it goes into a style attribute: nothing but a colour
    return ImageInfo(name, width, height, metadata.get(THUMBHASH, ""), colour, sizes, ready)


def _int_pair(metadata: dict[str, str]) -> tuple[int, int]:
    try:
        return int(metadata["width"]), int(metadata["height"])
    except (KeyError, ValueError):
        return 0, 0  # renditions written before these fields: no size to reserve


def background(info: ImageInfo | None) -> str:
    """The CSS that paints the placeholder (and the average colour under it) behind an element."""
    if info is None:
        return f"background:{NEUTRAL}"
    colour = info.average_color or NEUTRAL
    url = info.placeholder_url
    return f"background:{colour} url({url}) center/cover no-repeat" if url else f"background:{colour}"


def render_image(
    value: Any,
    *,
    alt: str = "",
    sizes: str = "",
    show_reason: bool = False,
    storage: IncomingImageStorage | None = None,
    **attributes: Any,
) -> SafeString:
    """The markup for one stored image, by its state: finished (a responsive `<img>` over its placeholder), pending
    (a box at the right aspect ratio when the main is already written, else a neutral one), or rejected (the
    reason when `show_reason`, a neutral sentence otherwise). `attributes` are added to the `<img>` (class,
    loading="eager", fetchpriority...); the box takes `class` and `style`. Renditions written before placeholders
    existed get a plain `<img src alt>`."""
    name, storage = _resolve(value, storage)
    info = image_info(name, storage) if name else None
    if info is None or not info.ready:
        return _box(name, storage, info, alt, show_reason, attributes)
    candidates = [size for size in info.whole_picture if size.name in storage.rendition_names]
    sizes = sizes or f"(max-width: {info.width}px) 100vw, {info.width}px"

    def srcset(fmt: str) -> str:
        return ", ".join(f"{storage.rendition_url(name, size.name, fmt=fmt)} {size.width}w" for size in candidates)

    attributes = {"loading": "lazy", "decoding": "async", **attributes}
    if not (info.width and candidates):  # renditions written before these fields: the plain image
        return format_html(
            '<img src="{}" alt="{}"{}>',
            storage.rendition_url(name, MAIN),
            alt,
            format_html_join("", ' {}="{}"', sorted(attributes.items())),
        )
    style = f"max-width:100%;height:auto;{background(info)};{attributes.pop('style', '')}".rstrip(";")
    img = format_html(
        '<img src="{}" srcset="{}" sizes="{}" width="{}" height="{}" alt="{}" style="{}"{}>',
        storage.rendition_url(name, MAIN),
        srcset("jpeg"),
        sizes,
        info.width,
        info.height,
        alt,
        style,
        format_html_join("", ' {}="{}"', sorted(attributes.items())),
    )
    formats = [fmt for fmt in PICTURE_ORDER if fmt in storage.formats]
    if not formats:
        return img
    sources = format_html_join(
        "", '<source type="{}" srcset="{}" sizes="{}">', ((CONTENT_TYPES[fmt], srcset(fmt), sizes) for fmt in formats)
    )
    return format_html("<picture>{}{}</picture>", sources, img)


def _box(
    name: str,
    storage: IncomingImageStorage,
    info: ImageInfo | None,
    alt: str,
    show_reason: bool,
    attributes: dict[str, Any],
) -> SafeString:
    """A block holding the image's place: its size and placeholder when the main is known, else neutral."""
    rejected = storage.rejection(name) if name and info is None else None
    state = "rejected" if rejected else "pending"
    if rejected:
        shape = "padding:0.5em"  # final: a notice, not a place held for an image
    elif info is not None and info.width and info.height:
        shape = f"width:{info.width}px;max-width:100%;aspect-ratio:{info.width} / {info.height}"
    else:
        shape = f"width:100%;aspect-ratio:{NEUTRAL_RATIO}"
    css_class = f"image-optimizer-{state} {attributes.pop('class', '')}".strip()
    style = f"display:block;{shape};{background(info)};{attributes.pop('style', '')}".rstrip(";")
    text = ""
    if rejected:
        text = f"Rejected: {rejected[1]}" if show_reason else REJECTED_TEXT
    return format_html(
        '<span class="{}" role="img" aria-label="{}" data-state="{}" style="{}">{}</span>',
        css_class,
        alt or text,
        state,
        style,
        text,
    )


def reason_allowed(context: Any) -> bool:
    """The rejection reason is for the site's own staff: a staff user, or DEBUG on a site without auth."""
    request = context.get("request") if hasattr(context, "get") else None
    user = getattr(request, "user", None)
    if user is not None:
        return bool(getattr(user, "is_staff", False))
    return bool(django_settings.DEBUG)
