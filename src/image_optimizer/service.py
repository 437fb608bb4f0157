"""One upload: get -> optimize -> put every rendition -> delete the original; quarantine what is rejected."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from functools import cached_property, partial
from typing import IO, Any, cast

from . import archive, pipeline, placeholder, renderer
from .announce import announce
from .crop import format_focus, parse_focus
from .errors import ImageRejected, ImageTooLarge, KeyTooLong
from .objects import ObjectRef, Outcome, OutputInfo, window_metadata
from .observability import in_this_trace, logger
from .provenance import Source, Verdict, judge, metadata_value, rendition_fingerprint
from .settings import Settings
from .specs import CONTENT_TYPES, PipelineConfig, failed_key, output_key, oversized_rendition_key
from .storage import EventPublisher, ObjectChanged, ObjectGone, ObjectTooLarge, S3Storage, StoredObject

WRITE_ATTEMPTS = 3  # conditional writes that lost a race are re-decided this many times, then retried later
# Renditions are written concurrently: a write is a PUT (and a HEAD when its key is taken) spent waiting on S3, not
# on the CPU, so the write phase costs about one write's round trips instead of one per rendition
# (benchmarks/end_to_end.py).
MAX_PARALLEL_WRITES = 8


class Superseded(Exception):
    """A newer upload of the same key already owns the renditions."""


class AlreadyWritten(Exception):
    """Every rendition is already this upload's and the upload has left its key: a repeat of an event whose
    work is done (on a versioned bucket the old version can still be read)."""


class WriteContention(Exception):
    """Conditional writes kept losing races; transient, so the invocation fails and is retried."""


Optimizer = Callable[[IO[bytes], PipelineConfig], pipeline.OptimizedImage]  # the upload as it arrives
STALE = "stale event: the key holds a newer upload with its own event"
FOCUS_METADATA = "focus"  # x-amz-meta-focus: x,y, the client's focal point for every crop (crop.parse_focus)


class ImageService:
    def __init__(
        self,
        storage: S3Storage,
        settings: Settings,
        optimizer: Optimizer = pipeline.optimize,
        publisher: EventPublisher | None = None,
        max_parallel_writes: int = MAX_PARALLEL_WRITES,  # benchmarks/end_to_end.py compares 1
    ) -> None:
        if max_parallel_writes < 1:
            raise ValueError(f"max_parallel_writes must be at least 1, not {max_parallel_writes}")
        self.storage = storage
        self.settings = settings
        self.optimizer = optimizer
        self.publisher = publisher
        self.max_parallel_writes = max_parallel_writes

    @cached_property
    def code_identity(self) -> str:
        """Computed at the first write, not at the cold start: it loads the JPEG encoder to name it, and reads the
        rendering code and the libraries' versions (renderer.identity)."""
        return renderer.identity(self.settings.pipeline)

    def fingerprint(self, name: str, fmt: str) -> str:
        """What made rendition `name` in format `fmt`: only what shapes it (provenance.rendition_fingerprint)."""
        return rendition_fingerprint(self.settings.pipeline, name, fmt, self.code_identity)

    def process(self, ref: ObjectRef) -> Outcome:
        started = time.perf_counter()
        outcome = self._process(ref)
        return replace(outcome, duration_ms=round((time.perf_counter() - started) * 1000, 1))

    def quarantine(self, ref: ObjectRef, etag: str, rejection: ImageRejected) -> Outcome:
        """Move the upload (conditional on `etag`) to FAILED_PREFIX without reading its body: poison.py."""
        return self._reject(ref, etag, rejection, ref.size or 0)

    def _process(self, ref: ObjectRef) -> Outcome:
        settings = self.settings
        if not ref.key.startswith(settings.incoming_prefix):
            return Outcome("ignored", ref.bucket, ref.key, f"outside INCOMING_PREFIX {settings.incoming_prefix!r}")
        if ref.key.endswith("/"):
            return Outcome("ignored", ref.bucket, ref.key, "folder placeholder")
        if ref.size is not None and ref.size > settings.max_input_bytes:
            return self._reject(ref, ref.etag, self._too_large(ref.size), ref.size)
        try:
            original = self.storage.open(
                ref.bucket, ref.key, etag=ref.etag, version_id=ref.version_id, max_bytes=settings.max_input_bytes
            )
        except ObjectGone:
            return Outcome("skipped", ref.bucket, ref.key, "original no longer exists (already processed or moved)")
        except ObjectChanged:
            return Outcome("skipped", ref.bucket, ref.key, STALE)
        except ObjectTooLarge as error:  # the copy and delete stay conditional on the upload that was read
            return self._reject(ref, error.etag, self._too_large(error.size), error.size, error.version_id)
        too_long = oversized_rendition_key(
            ref.key, settings.pipeline, incoming_prefix=settings.incoming_prefix, output_prefix=settings.output_prefix
        )
        if too_long:  # S3 would refuse it on every attempt: quarantined, not retried; its body is never read
            original.body.close()
            rejection = KeyTooLong(too_long)
            return self._reject(ref, original.etag, rejection, original.body.size, original.version_id)
        focus = self._focus(ref, original)
        result, size = self._optimize(original, focus)
        if isinstance(result, ImageRejected):
            return self._reject(ref, original.etag, result, size, original.version_id, original.content_type)
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
        announce(
            self.publisher,
            self.settings,
            "ImageOptimized",
            ref,
            original.etag,
            original.version_id,
            size,
            {
                "format": result.source_format,
                "width": result.source_width,
                "height": result.source_height,
                "renditions": [asdict(output) for output in outputs],
                **self._page_detail(result),
            },
        )
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
        text = original.metadata.get(FOCUS_METADATA)
        if text is None:
            return None
        try:
            return parse_focus(text)
        except ValueError as error:
            logger.warning("focus metadata ignored", key=ref.key, error=str(error))
            return None

    def _optimize(
        self, original: StoredObject, focus: tuple[float, float] | None = None
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
        focus: tuple[float, float] | None = None,
    ) -> list[OutputInfo]:
        outputs, written = self.write_renditions(ref.bucket, ref.key, source, result, focus=focus)
        if not source.current and not any(written):
            raise AlreadyWritten(ref.key)
        return outputs

    def _source(self, ref: ObjectRef, original: StoredObject) -> Source:
        """The upload's identity as its renditions and archive copy carry it (the fingerprint is per rendition)."""
        current = self._still_current(ref, original)
        return Source(ref.key, original.etag, original.version_id, original.last_modified, ref.sequencer, "", current)

    def write_renditions(
        self,
        bucket: str,
        key: str,
        source: Source,
        result: pipeline.OptimizedImage,
        renditions: list[pipeline.Rendition] | None = None,
        *,
        focus: tuple[float, float] | None = None,
    ) -> tuple[list[OutputInfo], list[bool]]:
        """Every rendition of `result` (or the given ones of it) for the upload at `key`, written concurrently,
        each stamped with its own fingerprint and the page's fields (placeholder, sizes, crop window). Per
        rendition, False: this upload's rendition, made the same way, was there already and is kept."""
        renditions = result.renditions if renditions is None else renditions
        outputs = [
            OutputInfo(r.name, self._output_key(key, r.name, r.format), r.width, r.height, len(r.data), r.format)
            for r in renditions
        ]
        outputs = [replace(output, window=result.windows.get(output.name)) for output in outputs]
        extras = [window_metadata(output, f"{result.source_width}x{result.source_height}") for output in outputs]
        write_one = in_this_trace(self._write_one)
        sizes = self._sizes(result)
        with ThreadPoolExecutor(max_workers=min(self.max_parallel_writes, len(outputs))) as pool:
            writes = [
                pool.submit(
                    write_one,
                    bucket,
                    output.key,
                    r.data,
                    CONTENT_TYPES[r.format],
                    replace(source, config=self.stamp(r.name, r.format, focus)),
                    {**placeholder.metadata(result.placeholder, r.width, r.height, sizes), **extra},
                )
                for r, output, extra in zip(renditions, outputs, extras, strict=True)
            ]
        # Every write has ended here; the first failure in rendition order decides, as a sequential loop would.
        return outputs, [write.result() for write in writes]

    def stamp(self, name: str, fmt: str, focus: tuple[float, float] | None) -> str:
        """A rendition's fingerprint; the same bytes uploaded again with another focal point make other crops."""
        fingerprint = self.fingerprint(name, fmt)
        return fingerprint if focus is None else f"{fingerprint} focus {format_focus(focus)}"

    def _sizes(self, result: pipeline.OptimizedImage) -> str:
        """Every rendition's size, for the page's srcset (placeholder.format_sizes)."""
        jpegs = [(r.name, r.width, r.height) for r in result.renditions if r.format == "jpeg"]
        return placeholder.format_sizes(placeholder.sizes(jpegs, self.settings.pipeline.thumbnails))

    def _output_key(self, key: str, name: str, fmt: str = "jpeg") -> str:
        """Where rendition `name` (in format `fmt`) of the upload at `key` goes."""
        settings = self.settings
        return output_key(
            key, name, incoming_prefix=settings.incoming_prefix, output_prefix=settings.output_prefix, fmt=fmt
        )

    def _still_current(self, ref: ObjectRef, original: StoredObject) -> bool:
        """Is the upload we read still the object at its key? (Deleted by a duplicate run counts as no.)"""
        return self._at_its_key(ref.bucket, ref.key, original.etag, original.version_id)

    def _at_its_key(self, bucket: str, key: str, etag: str | None, version_id: str | None) -> bool:
        head = self.storage.head(bucket, key)
        if head is None:
            return False
        if version_id:
            return head.version_id == version_id
        return head.etag == etag

    def _write_one(
        self, bucket: str, key: str, data: bytes, content_type: str, source: Source, page: dict[str, str] | None = None
    ) -> bool:
        """Write while the key is free, the usual case: one request. When something is there, or the upload is no
        longer at its key, look first and write conditionally on what is there: a race lost is re-decided.
        False: this upload's rendition was already there, nothing written."""

        def put(replacing: str | None) -> bool:
            """Over the object with ETag `replacing`, or (None) only while the key is free. False: the condition
            failed, someone wrote, was writing or removed the object meanwhile (S3 says 412, 409 or 404)."""
            try:
                self.storage.put(
                    bucket,
                    key,
                    data,
                    content_type=content_type,
                    cache_control=self.settings.cache_control,
                    metadata=placeholder.merged(source.metadata(), page or {}),
                    replacing=replacing,
                )
            except (ObjectChanged, ObjectGone):
                return False
            return True

        if source.current and put(None):
            return True
        for _ in range(WRITE_ATTEMPTS):
            current = self.storage.head(bucket, key)
            if current:
                verdict = judge(current.metadata, source)
            else:  # nothing there yet: only an upload still at its key may publish (a replaced one never does)
                verdict = Verdict.WRITE if source.current else Verdict.NEWER_EXISTS
            if verdict is Verdict.SAME:
                return False  # an earlier attempt of this same upload wrote it: no second write
            tie_lost = verdict is Verdict.TIE and not self._at_its_key(
                bucket, source.key, source.etag, source.version_id
            )
            if verdict is Verdict.NEWER_EXISTS or tie_lost:  # (a tie: gone since our look, so the other is newer)
                raise Superseded(key)
            if put(current.etag if current else None):
                return True
        raise WriteContention(f"{key}: conditional write lost {WRITE_ATTEMPTS} races")

    @staticmethod
    def _page_detail(result: pipeline.OptimizedImage) -> dict[str, Any]:
        """What a page needs, in the ImageOptimized event: the placeholder (the sizes are in `renditions`)."""
        found = result.placeholder
        return {"thumbhash": found.thumbhash_base64, "averageColor": found.average_color} if found else {}

    def _failed_key(self, ref: ObjectRef, identity: str) -> tuple[str, bool]:
        """failed/<same path>, unless another rejected upload is there: then beside it, tagged with this one's
        ETag (a copy would replace it, and on an unversioned bucket that upload would be gone). True: this
        upload's own copy is there already (an earlier attempt, or a repeat of the event)."""
        settings = self.settings
        prefixes = {"incoming_prefix": settings.incoming_prefix, "failed_prefix": settings.failed_prefix}
        target = failed_key(ref.key, **prefixes)
        held = self.storage.head(ref.bucket, target)
        if held is None:
            return target, False
        if held.metadata.get("source-etag") == identity:
            return target, True
        return failed_key(ref.key, **prefixes, tag=identity[:12]), False

    def _too_large(self, size: int) -> ImageTooLarge:
        return ImageTooLarge(f"upload is {size} bytes, over the limit MAX_INPUT_BYTES={self.settings.max_input_bytes}")

    def _reject(
        self,
        ref: ObjectRef,
        etag: str | None,
        rejection: ImageRejected,
        size: int,
        version_id: str | None = None,
        content_type: str | None = None,
    ) -> Outcome:
        """Move the original to FAILED_PREFIX (copy, then delete) with the reason in its metadata."""
        version_id = version_id or ref.version_id
        identity = (etag or "").strip('"') or "unknown"  # every caller has the ETag of what it read
        target, copied = self._failed_key(ref, identity)
        if copied and not self._at_its_key(ref.bucket, ref.key, etag, version_id):  # moved and announced before
            return Outcome("skipped", ref.bucket, ref.key, "original no longer exists (already moved)")
        metadata = {
            "reason": metadata_value(rejection.message),
            "error-kind": rejection.kind,
            "source-key": metadata_value(ref.key),
            "source-etag": identity,
        }
        try:
            self.storage.copy(
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
        announce(
            self.publisher,
            self.settings,
            "ImageRejected",
            ref,
            etag,
            version_id,
            size,
            {
                "failedKey": target,
                "reason": rejection.message,
                "errorKind": rejection.kind,
            },
        )
        with contextlib.suppress(ObjectChanged, ObjectGone):
            self.storage.delete(ref.bucket, ref.key, etag=etag)
        return Outcome(
            "rejected", ref.bucket, ref.key, reason=rejection.message, error_kind=rejection.kind, bytes_in=size
        )
