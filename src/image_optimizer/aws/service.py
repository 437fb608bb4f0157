"""One upload: get -> optimize -> put every rendition -> announce -> delete the original; a rejected upload goes to
quarantine instead. The writes are renditions.py's, the rejections quarantine.py's; this module decides the order
and keeps the original until everything it owes is in place."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import partial
from typing import IO, Any, cast

from ..errors import ImageRejected, KeyTooLong
from ..imaging import pipeline
from ..imaging.crop import focus_in, format_focus
from ..settings import Settings
from ..specs import PipelineConfig, oversized_rendition_key
from . import archive
from .announce import announce
from .objects import STALE, ObjectRef, Outcome, OutputInfo
from .observability import logger
from .provenance import Source
from .quarantine import Quarantine, too_large
from .renditions import MAX_PARALLEL_WRITES, RenditionWriter, Superseded
from .storage import EventPublisher, ObjectChanged, ObjectGone, ObjectTooLarge, S3Storage, StoredObject


class AlreadyWritten(Exception):
    """Every rendition is already this upload's and the upload has left its key: a repeat of an event whose
    work is done (on a versioned bucket the old version can still be read)."""


Optimizer = Callable[[IO[bytes], PipelineConfig], pipeline.OptimizedImage]  # the upload as it arrives


class ImageService:
    def __init__(
        self,
        storage: S3Storage,
        settings: Settings,
        optimizer: Optimizer = pipeline.optimize,
        publisher: EventPublisher | None = None,
        max_parallel_writes: int = MAX_PARALLEL_WRITES,  # benchmarks/end_to_end.py compares 1
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.optimizer = optimizer
        self.publisher = publisher
        # The parts read this service's storage, settings and publisher at each use: one value, however reached.
        self.renditions = RenditionWriter(self, max_parallel_writes)
        self.rejections = Quarantine(self)

    def process(self, ref: ObjectRef) -> Outcome:
        started = time.perf_counter()
        outcome = self._process(ref)
        return replace(outcome, duration_ms=round((time.perf_counter() - started) * 1000, 1))

    def _process(self, ref: ObjectRef) -> Outcome:
        settings, rejections = self.settings, self.rejections
        if not ref.key.startswith(settings.incoming_prefix):
            return Outcome("ignored", ref.bucket, ref.key, f"outside INCOMING_PREFIX {settings.incoming_prefix!r}")
        if ref.key.endswith("/"):
            return Outcome("ignored", ref.bucket, ref.key, "folder placeholder")
        if ref.size is not None and ref.size > settings.max_input_bytes:
            return rejections.reject(ref, ref.etag, too_large(ref.size, settings.max_input_bytes), ref.size)
        try:
            original = self.storage.open(
                ref.bucket, ref.key, etag=ref.etag, version_id=ref.version_id, max_bytes=settings.max_input_bytes
            )
        except ObjectGone:
            return Outcome("skipped", ref.bucket, ref.key, "original no longer exists (already processed or moved)")
        except ObjectChanged:
            return Outcome("skipped", ref.bucket, ref.key, STALE)
        except ObjectTooLarge as error:  # the copy and delete stay conditional on the upload that was read
            rejection = too_large(error.size, settings.max_input_bytes)
            return rejections.reject(ref, error.etag, rejection, error.size, error.version_id)
        too_long = oversized_rendition_key(
            ref.key, settings.pipeline, incoming_prefix=settings.incoming_prefix, output_prefix=settings.output_prefix
        )
        if too_long:  # S3 would refuse it on every attempt: quarantined, not retried; its body is never read
            original.body.close()
            return rejections.reject(ref, original.etag, KeyTooLong(too_long), original.body.size, original.version_id)
        focus = self._focus(ref, original)
        result, size = self._optimize(original, focus)
        if isinstance(result, ImageRejected):
            return rejections.reject(ref, original.etag, result, size, original.version_id, original.content_type)
        source = self._source(ref, original)
        try:
            outputs = self._write_renditions(ref, source, result, focus)
            # With ARCHIVE_PREFIX set, the upload's verified copy there before the original may go (archive.py).
            current = partial(self._still_current, ref, original)
            kept_focus = format_focus(focus) if focus else ""
            archive.keep_upload(
                self.storage, self.settings, ref.bucket, source, size, original.content_type, current, kept_focus
            )
        except (Superseded, archive.NewerArchived):
            return Outcome(
                "skipped", ref.bucket, ref.key, "stale event: a newer upload of this key owns the renditions"
            )
        except AlreadyWritten:  # announced and deleted by the run that wrote them: nothing twice
            return Outcome("skipped", ref.bucket, ref.key, "already processed: its renditions are written")
        # Announced before the original goes: a failure here retries the event, so no upload ends unannounced
        # (a retry may announce it twice; consumers key on sourceKey + sourceEtag).
        detail = {
            "format": result.source_format,
            "width": result.source_width,
            "height": result.source_height,
            "renditions": [asdict(output) for output in outputs],
            **self._page_detail(result),
        }
        announce(self.publisher, settings, "ImageOptimized", ref, original.etag, original.version_id, size, detail)
        try:
            # Only now, with every rendition written, may the original go.
            self.storage.delete(ref.bucket, ref.key, etag=original.etag)
        except ObjectChanged:
            pass  # A newer upload landed at the key after our read: it survives and gets its own event.
        except ObjectGone:
            pass  # A concurrent invocation of the same event already deleted it.
        return Outcome("processed", ref.bucket, ref.key, bytes_in=size, outputs=outputs)

    def _focus(self, ref: ObjectRef, original: StoredObject) -> tuple[float, float] | None:
        """The client's focal point, or None; bad metadata is ignored with one log line, never a failure."""
        return focus_in(
            original.metadata,
            ignored=lambda error: logger.warning("focus metadata ignored", key=ref.key, error=str(error)),
        )

    def _optimize(
        self, original: StoredObject, focus: tuple[float, float] | None
    ) -> tuple[pipeline.OptimizedImage | ImageRejected, int]:
        """The renditions, or why the upload is rejected; and its size. The decoder reads the body as it arrives
        (download.Download), so the download overlaps the decode. Only an upload received whole is judged: a
        download that broke off raises ReadFailed (the invocation fails and is retried), never passing for a
        truncated image, and the rest (an MPO's second picture) is received before anything is written."""
        with original.body:
            try:
                # A Download is a binary file in all but typeshed's name for one (IO[bytes]).
                source = cast(IO[bytes], original.body)
                config = replace(self.settings.pipeline, focus=focus)
                result: pipeline.OptimizedImage | ImageRejected = self.optimizer(source, config)
            except ImageRejected as rejection:
                result = rejection
            return result, original.body.finish()

    def _write_renditions(
        self,
        ref: ObjectRef,
        source: Source,
        result: pipeline.OptimizedImage,
        focus: tuple[float, float] | None,
    ) -> list[OutputInfo]:
        outputs, written = self.renditions.write(ref.bucket, ref.key, source, result, focus=focus)
        if not source.current and not any(written):
            raise AlreadyWritten(ref.key)
        return outputs

    def _source(self, ref: ObjectRef, original: StoredObject) -> Source:
        """The upload's identity as its renditions and archive copy carry it (the fingerprint is per rendition)."""
        current = self._still_current(ref, original)
        return Source(ref.key, original.etag, original.version_id, original.last_modified, ref.sequencer, "", current)

    def _still_current(self, ref: ObjectRef, original: StoredObject) -> bool:
        """Is the upload we read still the object at its key? (Deleted by a duplicate run counts as no.)"""
        return self.storage.holds(ref.bucket, ref.key, original.etag, original.version_id)

    @staticmethod
    def _page_detail(result: pipeline.OptimizedImage) -> dict[str, Any]:
        """What a page needs, in the ImageOptimized event: the placeholder (the sizes are in `renditions`)."""
        found = result.placeholder
        return {"thumbhash": found.thumbhash_base64, "averageColor": found.average_color} if found else {}
