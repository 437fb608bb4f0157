"""Which uploads a re-render run covers (`python -m image_optimizer rerender`): the archive copies under
ARCHIVE_PREFIX, one per set of rendition names; the copies that must be restored before any can be read; and, for
uploads that predate the archive, their main renditions (`--from-main`)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote

from ..settings import Settings
from . import archive
from .keys import archive_key, rendition_key, uploaded_key
from .storage import Listed, S3Storage


class RestoreFirst(Exception):
    """Archive copies in DEEP_ARCHIVE (or GLACIER) that are not restored: the run is refused before any work."""


class Backlog:
    def __init__(self, storage: S3Storage, settings: Settings, bucket: str) -> None:
        self.storage = storage
        self.settings = settings
        self.bucket = bucket

    def archived(self, prefix: str = "") -> list[Listed]:
        """The archive copies under ARCHIVE_PREFIX + `prefix`. Two uploads whose renditions share names
        (photo.png, photo.jpg) are both archived; only the one archived last (the one its renditions show) is
        re-rendered, so a re-render never brings back the older one's pixels."""
        latest: dict[str, Listed] = {}
        for item in self.storage.list(self.bucket, self.settings.archive_prefix + prefix):
            if item.key.endswith("/"):
                continue
            main = rendition_key(self.settings, uploaded_key(self.settings, item.key))
            if main not in latest or item.last_modified >= latest[main].last_modified:
                latest[main] = item
        return sorted(latest.values(), key=lambda item: item.key)

    def refuse_unrestored(self, items: list[Listed]) -> None:
        """Raise RestoreFirst, once, naming how many copies must be restored before they can be read."""
        archived = [item for item in items if item.storage_class in archive.NEEDS_RESTORE]
        unrestored = [item for item in archived if not self._restored(item.key)]
        if unrestored:
            classes = ", ".join(sorted({item.storage_class for item in unrestored}))
            raise RestoreFirst(
                f"{len(unrestored)} of {len(items)} originals are in {classes} and not restored (first:"
                f" s3://{self.bucket}/{unrestored[0].key}). Restore them first (an S3 Batch Operations"
                " 'Restore' job, or aws s3api restore-object per key), then run rerender again."
                " Nothing was re-rendered."
            )

    def mains(self, prefix: str = "") -> Iterator[str]:
        """Main renditions under OUTPUT_PREFIX + `prefix` whose upload has no archive copy (from_main)."""
        settings = self.settings
        for item in self.storage.list(self.bucket, settings.output_prefix + prefix):
            if not item.key.endswith(".jpg"):
                continue
            head = self.storage.head(self.bucket, item.key)
            source_key = unquote(head.metadata.get("source-key", "")) if head else ""
            if not source_key or rendition_key(settings, source_key) != item.key:
                continue  # a thumbnail, or not a rendition of this function
            if settings.archive_prefix and self.storage.head(self.bucket, archive_key(settings, source_key)):
                continue  # re-rendered from its original instead
            yield item.key

    def _restored(self, key: str) -> bool:
        head = self.storage.head(self.bucket, key)
        return bool(head and head.restore and 'ongoing-request="false"' in head.restore)
