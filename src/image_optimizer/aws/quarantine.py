"""Rejected uploads: copied to FAILED_PREFIX with the reason in their metadata, announced (ImageRejected), and only
then deleted from INCOMING_PREFIX. Every step is conditional on the upload that was judged, so a newer upload of
the key is never moved, and a rejected upload already there is never replaced."""

from __future__ import annotations

import contextlib
from typing import Protocol

from ..errors import ImageRejected, ImageTooLarge
from .announce import announce
from .keys import quarantine_key
from .objects import STALE, ObjectRef, Outcome
from .parts import ServicePart, Wiring
from .provenance import metadata_value
from .storage import EventPublisher, ObjectChanged, ObjectGone


def too_large(size: int, limit: int) -> ImageTooLarge:
    return ImageTooLarge(f"upload is {size} bytes, over the limit MAX_INPUT_BYTES={limit}")


class Announcing(Wiring, Protocol):
    publisher: EventPublisher | None


class Quarantine(ServicePart):
    wiring: Announcing  # the service, with its publisher

    def __init__(self, wiring: Announcing) -> None:
        super().__init__(wiring)

    def reject(
        self,
        ref: ObjectRef,
        etag: str | None,
        rejection: ImageRejected,
        size: int,
        version_id: str | None = None,
        content_type: str | None = None,
    ) -> Outcome:
        """Move the original to FAILED_PREFIX (copy, then delete) with the reason in its metadata."""
        storage, settings = self.storage, self.settings
        version_id = version_id or ref.version_id
        identity = (etag or "").strip('"') or "unknown"  # every caller has the ETag of what it read
        target, copied = self._failed_key(ref, identity)
        if copied and not storage.holds(ref.bucket, ref.key, etag, version_id):  # moved and announced before
            return Outcome("skipped", ref.bucket, ref.key, "original no longer exists (already moved)")
        metadata = {
            "reason": metadata_value(rejection.message),
            "error-kind": rejection.kind,
            "source-key": metadata_value(ref.key),
            "source-etag": identity,
        }
        try:
            storage.copy(
                ref.bucket,
                ref.key,
                target,
                etag=etag,
                version_id=version_id,
                metadata=metadata,
                content_type=content_type,
            )
        except ObjectGone:
            return Outcome("skipped", ref.bucket, ref.key, "original no longer exists (already moved)")
        except ObjectChanged:
            return Outcome("skipped", ref.bucket, ref.key, STALE)
        detail = {"failedKey": target, "reason": rejection.message, "errorKind": rejection.kind}
        announce(self.wiring.publisher, settings, "ImageRejected", ref, etag, version_id, size, detail)
        with contextlib.suppress(ObjectChanged, ObjectGone):
            storage.delete(ref.bucket, ref.key, etag=etag)
        return Outcome(
            "rejected", ref.bucket, ref.key, reason=rejection.message, error_kind=rejection.kind, bytes_in=size
        )

    def _failed_key(self, ref: ObjectRef, identity: str) -> tuple[str, bool]:
        """failed/<same path>, unless another rejected upload is there: then beside it, tagged with this one's
        ETag (a copy would replace it, and on an unversioned bucket that upload would be gone). True: this
        upload's own copy is there already (an earlier attempt, or a repeat of the event)."""
        settings = self.settings
        target = quarantine_key(settings, ref.key)
        held = self.storage.head(ref.bucket, target)
        if held is None:
            return target, False
        if held.metadata.get("source-etag") == identity:
            return target, True
        return quarantine_key(settings, ref.key, tag=identity[:12]), False
