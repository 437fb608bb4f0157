"""Re-render uploads with the current settings: from their archive copies (ARCHIVE_PREFIX), or, for uploads that
predate the archive, from their main rendition (`from_main`).

Renditions are written as new uploads' are (renditions.RenditionWriter): a rendition already made from the same
upload by the same settings and code is kept, not rewritten (each one's fingerprint covers only what shapes it, so a
new thumbnail size leaves the others alone). Renditions the settings no longer name are listed, and removed only
when asked (`prune`). Nothing here deletes a rendition because its original is missing: only renditions of an
upload that is being re-rendered, that name it as their source, are ever pruned."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace
from typing import IO, cast

from PIL import Image

from ..errors import ImageRejected
from ..imaging.crop import focus_in
from ..specs import MAIN, PipelineConfig, ThumbnailSpec, rendition_outputs, stem_of
from .keys import rendition_key, uploaded_key
from .objects import ObjectRef, Outcome, Status
from .parts import ServicePart
from .provenance import Source, Verdict, judge, metadata_value
from .renditions import Superseded
from .service import ImageService
from .storage import NeedsRestore, ObjectChanged, ObjectGone

_RENDITION_SUFFIX = re.compile(r"(_[A-Za-z0-9][A-Za-z0-9_-]*)?\.(jpg|webp|avif)")


@dataclass
class Result:
    """What became of one upload: `status` is re-rendered, unchanged, skipped or failed."""

    key: str  # the upload's key under INCOMING_PREFIX, as its renditions name it
    source: str  # where its pixels came from: the archive copy, or the main rendition (from_main)
    status: str = "unchanged"
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unnamed: list[str] = field(default_factory=list)  # renditions the settings no longer name
    pruned: list[str] = field(default_factory=list)
    needs_original: list[str] = field(default_factory=list)  # from_main: larger than the main image
    reason: str = ""


class Rerenderer(ServicePart):
    def __init__(self, service: ImageService, bucket: str) -> None:
        super().__init__(service)
        self.service = service  # (the same service, typed with its optimizer and writer)
        self.bucket = bucket

    # ---------------------------------------------------------------- one upload
    def rerender(self, archived_key: str, *, etag: str | None = None, prune: bool = False) -> Result:
        """Re-render the upload whose archive copy is `archived_key` (raises NeedsRestore when it cannot be read).
        When every rendition is already this upload's, made the same way, the copy is not even read (a GLACIER_IR
        read is billed per GB)."""
        key = uploaded_key(self.settings, archived_key)
        result = Result(key, archived_key)
        head = self.storage.head(self.bucket, archived_key)
        if head is None or (etag and head.etag != etag):
            return replace(result, status="skipped", reason="the archive copy changed or went since it was listed")
        source = Source.from_metadata(key, head.metadata)
        focus = focus_in(head.metadata)  # the upload's focal point places its crops again
        config = replace(self.settings.pipeline, focus=focus)
        names = rendition_outputs(config)
        done = self._already_made(key, source, names, focus)
        if len(done) == len(names):
            return self._finish(replace(result, kept=sorted(done)), {*done}, prune=prune)
        try:
            original = self.storage.open(
                self.bucket, archived_key, etag=head.etag, version_id=None, max_bytes=self.settings.max_input_bytes
            )
        except (ObjectGone, ObjectChanged):
            return replace(result, status="skipped", reason="the archive copy changed or went since it was listed")
        with original.body:
            return self._render(result, cast(IO[bytes], original.body), config, source, done, prune=prune, focus=focus)

    def from_main(self, main_key: str, *, prune: bool = False) -> Result:
        """The renditions no larger than the main image, derived from it (one JPEG generation more than from the
        original) and marked `derived-from` in their metadata; the main itself is never rewritten."""
        head = self.storage.head(self.bucket, main_key)
        if head is None:
            return Result(main_key, main_key, "skipped", reason="the main rendition is gone")
        source = replace(Source.from_metadata(None, head.metadata), derived_from=main_key)
        key = source.key
        result = Result(key, main_key)
        config = self.settings.pipeline
        names = rendition_outputs(config)
        names.remove((MAIN, "jpeg"))
        done = self._already_made(key, source, names) | {main_key}
        if len(done) == len(names) + 1:
            return self._finish(replace(result, kept=sorted(done - {main_key})), done, prune=prune)
        original = self.storage.open(
            self.bucket, main_key, etag=head.etag, version_id=None, max_bytes=self.settings.max_input_bytes
        )
        with original.body:
            data = original.body.read()
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
        derivable = tuple(spec for spec in config.thumbnails if no_larger(spec, size))
        result.needs_original = [spec.name for spec in config.thumbnails if spec not in derivable]
        derived = replace(config, max_width=size[0], max_height=size[1], thumbnails=derivable)
        return self._render(result, io.BytesIO(data), derived, source, done, prune=prune)

    def _already_made(
        self, key: str, source: Source, names: list[tuple[str, str]], focus: tuple[float, float] | None = None
    ) -> set[str]:
        """The renditions (keys) already made from this upload by these settings and code: one HEAD each."""
        done = set()
        for name, fmt in names:
            target = self._key(key, name, fmt)
            held = self.storage.head(self.bucket, target)
            mine = replace(source, config=self.service.renditions.stamp(name, fmt, focus))
            if held and judge(held.metadata, mine) is Verdict.SAME:
                done.add(target)
        return done

    def _render(
        self,
        result: Result,
        body: IO[bytes],
        config: PipelineConfig,
        source: Source,
        done: set[str],
        *,
        prune: bool,
        focus: tuple[float, float] | None = None,
    ) -> Result:
        """Render `body` with `config` and write the renditions not `done` (already made, or never written: the
        main image from_main reads)."""
        try:
            rendered = self.service.optimizer(body, config)
        except ImageRejected as rejection:
            return replace(result, status="failed", reason=f"{rejection.kind}: {rejection.message}")
        renditions = [r for r in rendered.renditions if self._key(result.key, r.name, r.format) not in done]
        try:  # (nothing to write when only renditions the main image cannot give were missing: from_main)
            outputs, written = (
                self.service.renditions.write(self.bucket, result.key, source, rendered, renditions, focus=focus)
                if renditions
                else ([], [])
            )
        except Superseded:  # (WriteContention is transient: raised, so the upload is tried again)
            return replace(result, status="skipped", reason="a newer upload of this key owns the renditions")
        result.written = [output.key for output, wrote in zip(outputs, written, strict=True) if wrote]
        result.kept = sorted(
            {*done, *(output.key for output, wrote in zip(outputs, written, strict=True) if not wrote)}
            - {result.source}
        )
        return self._finish(result, {*done, *(output.key for output in outputs)}, prune=prune)

    def _finish(self, result: Result, named: set[str], *, prune: bool) -> Result:
        """List (and with `prune` remove) the renditions of this upload that are not `named`."""
        result.status = "re-rendered" if result.written else "unchanged"
        result.unnamed = self._unnamed(result.key, named)
        if prune:
            result.pruned = [key for key in result.unnamed if self._prune(key, result.key)]
        return result

    def task(self, ref: ObjectRef) -> Outcome:
        """An S3 Batch Operations task naming an archive copy (`rerender --manifest`): re-rendered, never pruned
        (the unnamed renditions are listed in the task's result). A copy still in DEEP_ARCHIVE fails for good."""
        try:
            result = self.rerender(ref.key)
        except NeedsRestore:
            reason = "the archive copy is in DEEP_ARCHIVE: restore it first, then run the task again"
            return Outcome("rejected", ref.bucket, ref.key, reason=reason, error_kind="needs_restore")
        detail = "; ".join(
            f"{label} {', '.join(keys)}"
            for label, keys in (("wrote", result.written), ("kept", result.kept), ("no longer named", result.unnamed))
            if keys
        )
        if result.status == "failed":
            return Outcome("rejected", ref.bucket, ref.key, reason=result.reason, error_kind="rerender_failed")
        status: Status = "processed" if result.status == "re-rendered" else "skipped"
        return Outcome(status, ref.bucket, ref.key, reason=f"{result.status}: {result.reason or detail}")

    # ---------------------------------------------------------------- renditions no longer named
    def _unnamed(self, key: str, named: set[str]) -> list[str]:
        """This upload's renditions (their source-key says so) that are not `named` by the current settings."""
        stem = stem_of(rendition_key(self.settings, key))
        found = []
        for item in self.storage.list(self.bucket, stem):
            if item.key in named or not _RENDITION_SUFFIX.fullmatch(item.key[len(stem) :]):
                continue
            head = self.storage.head(self.bucket, item.key)
            if head and head.metadata.get("source-key") == metadata_value(key):
                found.append(item.key)
        return found

    def _prune(self, rendition: str, key: str) -> bool:
        """Delete one unnamed rendition, only while it is still that upload's (If-Match on what was looked at)."""
        head = self.storage.head(self.bucket, rendition)
        if head is None or head.metadata.get("source-key") != metadata_value(key):
            return False
        try:
            self.storage.delete(self.bucket, rendition, etag=head.etag)
        except (ObjectChanged, ObjectGone):
            return False
        return True

    # ---------------------------------------------------------------- naming
    def _key(self, key: str, name: str, fmt: str) -> str:
        return rendition_key(self.settings, key, name, fmt)


def no_larger(spec: ThumbnailSpec, main: tuple[int, int]) -> bool:
    """Can `spec` be derived from a main image of size `main` without needing pixels it lacks? A fit thumbnail
    bounded by its box in some direction, or a crop thumbnail whose box fits inside the main image."""
    width, height = main
    if spec.crops:
        return spec.width <= width and spec.height <= height
    return spec.width <= width or spec.height <= height


__all__ = ["NeedsRestore", "Rerenderer", "Result", "no_larger"]
