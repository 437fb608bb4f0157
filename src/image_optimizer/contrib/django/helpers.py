"""URLs from the shared naming rule, direct browser uploads, and waiting for the function to finish."""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage

from ...imaging.crop import FOCUS_METADATA, format_focus
from ...specs import CONTENT_TYPES, MAIN
from .storage import IncomingImageStorage

POLL_INTERVAL = 0.5


class UploadRejected(Exception):
    """The function moved the upload to failed/ instead of producing renditions."""

    def __init__(self, name: str, key: str, reason: str) -> None:
        super().__init__(f"{name}: upload rejected ({reason}); the original is at {key}")
        self.name, self.key, self.reason = name, key, reason


def _resolve(name: Any, storage: IncomingImageStorage | None) -> tuple[str, IncomingImageStorage]:
    """Accept a stored name or a FieldFile (whose own storage wins over the default one)."""
    if hasattr(name, "storage") and hasattr(name, "name"):
        storage = storage or name.storage
        name = name.name
    storage = storage or default_storage
    if not isinstance(storage, IncomingImageStorage):
        raise ImproperlyConfigured(
            f"{type(storage).__name__} is not an IncomingImageStorage: pass storage= or configure "
            'STORAGES["default"] with image_optimizer.contrib.django.IncomingImageStorage'
        )
    return str(name or ""), storage


def rendition_url(
    name: Any, rendition: str = MAIN, storage: IncomingImageStorage | None = None, *, fmt: str = "jpeg"
) -> str:
    """URL of a rendition (`main` or a thumbnail name) of a stored name, as JPEG or a configured extra format
    (IMAGE_OPTIMIZER_EXTRA_FORMATS); "" for an empty field."""
    name, storage = _resolve(name, storage)
    return storage.rendition_url(name, rendition, fmt=fmt) if name else ""


# Best first for <picture>: a browser takes the first <source> whose type it supports.
PICTURE_ORDER = ("avif", "webp")


def picture_sources(
    name: Any, rendition: str = MAIN, storage: IncomingImageStorage | None = None
) -> list[tuple[str, str]]:
    """(MIME type, URL) of each extra-format sibling of a rendition, AVIF before WebP, for `<picture>`'s
    `<source>` elements; the JPEG (`rendition_url`) is the `<img>` fallback. [] for an empty field."""
    name, storage = _resolve(name, storage)
    if not name:
        return []
    return [
        (CONTENT_TYPES[fmt], storage.rendition_url(name, rendition, fmt=fmt))
        for fmt in PICTURE_ORDER
        if fmt in storage.formats
    ]


def thumbnail_url(name: Any, thumbnail: str, storage: IncomingImageStorage | None = None) -> str:
    """URL of the named thumbnail (THUMBNAILS / IMAGE_OPTIMIZER_THUMBNAILS) of a stored name or FieldFile."""
    return rendition_url(name, thumbnail, storage)


def presigned_post(
    filename: str,
    content_type: str,
    max_bytes: int,
    storage: IncomingImageStorage | None = None,
    *,
    upload_to: str = "",
    max_length: int = 100,
    expires_in: int = 600,
    focus: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """A browser form upload straight to incoming/, with a key the server chose and claimed: the name stays
    reserved whether or not the browser ever uploads (until `storage.delete(name)`), so issue tickets to users
    you know (behind login, rate-limited), as you would any write.

    Returns {"name": the final name to store (at most `max_length`, FileField's default), "key", "url",
    "fields"}: the browser POSTs `fields` plus its `file` to `url`. S3 refuses a body over `max_bytes` and a
    Content-Type not starting with `image/`. S3 POST has no If-None-Match: until `expires_in` runs out the same
    ticket can upload again and replace the renditions, hence the short default. `focus`: the subject's point
    (x, y), fractions 0-1 of the upright image, that every cropped thumbnail keeps: a signed field
    (x-amz-meta-focus) the browser sends as it is."""
    if not content_type.startswith("image/"):
        raise ValueError(f"content_type {content_type!r} is not an image type")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    fields = {"Content-Type": content_type}
    conditions: list[Any] = [["starts-with", "$Content-Type", "image/"]]
    if focus is not None:
        field = f"x-amz-meta-{FOCUS_METADATA}"
        fields[field] = format_focus(focus)
        conditions.append({field: fields[field]})
    _, storage = _resolve("", storage)
    basename = posixpath.basename(filename.replace("\\", "/"))  # a browser's name, not a path of ours
    raw = storage.claim_available_name(
        storage.generate_filename(posixpath.join(upload_to, basename)), max_length=max_length
    )
    key = storage.incoming_key(raw)
    post = storage.connection.meta.client.generate_presigned_post(
        Bucket=storage.bucket_name,
        Key=key,
        Fields=fields,
        Conditions=[*conditions, ["content-length-range", 1, max_bytes]],
        ExpiresIn=expires_in,
    )
    return {"name": storage.final_name(raw), "key": key, "url": post["url"], "fields": post["fields"]}


@dataclass(frozen=True)
class CropWindow:
    """The part of the upright original a cropped thumbnail shows: pixels x0 <= x < x1, y0 <= y < y1 of a
    source_width x source_height image (what the function wrote in the thumbnail's metadata)."""

    x0: int
    y0: int
    x1: int
    y1: int
    source_width: int
    source_height: int


def crop_window(name: Any, thumbnail: str, storage: IncomingImageStorage | None = None) -> CropWindow | None:
    """The window a cropped thumbnail shows (its x-amz-meta-window; one HEAD), e.g. to draw it over the original
    in an editor. None for an empty field, while the thumbnail is not written yet, and for a `fit` thumbnail."""
    name, storage = _resolve(name, storage)
    if not name:
        return None
    key = storage.rendition_key(name, thumbnail)
    if not any(spec.name == thumbnail and spec.crops for spec in storage.thumbnail_specs):
        return None  # a fit thumbnail shows the whole picture: no window, no request
    head = storage.head(key)
    if head is None:
        return None
    metadata = head.get("Metadata", {})
    try:
        x0, y0, x1, y1 = (int(part) for part in metadata["window"].split(","))
        width, height = (int(part) for part in metadata["source-size"].split("x"))
    except (KeyError, ValueError):
        return None
    return CropWindow(x0, y0, x1, y1, width, height)


def wait_until_ready(
    name: Any, timeout: float = 30.0, storage: IncomingImageStorage | None = None, *, interval: float = POLL_INTERVAL
) -> bool:
    """Poll until every rendition of the name exists (True) or `timeout` seconds pass (False).
    Raises UploadRejected as soon as the function has moved the upload to failed/ (and no renditions exist)."""
    name, storage = _resolve(name, storage)
    deadline = time.monotonic() + timeout
    while True:
        if storage.is_ready(name):
            return True
        rejected = storage.rejection(name)
        if rejected:
            raise UploadRejected(name, *rejected)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))
