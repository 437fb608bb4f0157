"""The completion event of one upload (ImageOptimized / ImageRejected) on EVENT_BUS_NAME."""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .keys import rendition_key
from .objects import ObjectRef
from .storage import EventPublisher


def announce(
    publisher: EventPublisher | None,
    settings: Settings,
    detail_type: str,
    ref: ObjectRef,
    etag: str | None,
    version_id: str | None,
    size: int,
    specifics: dict[str, Any],
) -> None:
    """One event, when a bus is set. `name` is the main rendition's key relative to OUTPUT_PREFIX: the name a
    client (the Django storage) stored for this upload."""
    if publisher is None:
        return
    main_key = rendition_key(settings, ref.key)
    detail = {
        "bucket": ref.bucket,
        "sourceKey": ref.key,
        "sourceEtag": (etag or "").strip('"'),
        "sourceVersionId": version_id,
        "name": main_key[len(settings.output_prefix) :],
        "bytesIn": size,
        **specifics,
    }
    publisher.publish(detail_type, detail, [f"arn:aws:s3:::{ref.bucket}"])
