"""Writing an upload's renditions to OUTPUT_PREFIX: concurrently, each stamped with its source's identity and its
own fingerprint, and each conditional on what its key holds, so a late, repeated or out-of-order event never
writes over the renditions of a newer upload of the same key (provenance.judge)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cached_property

from ..imaging import placeholder
from ..imaging.crop import format_focus
from ..imaging.pipeline import OptimizedImage, Rendition
from ..specs import CONTENT_TYPES
from . import renderer
from .keys import rendition_key
from .objects import OutputInfo, window_metadata
from .observability import in_this_trace
from .parts import ServicePart, Wiring
from .provenance import Source, Verdict, judge, rendition_fingerprint
from .storage import ObjectChanged, ObjectGone

WRITE_ATTEMPTS = 3  # conditional writes that lost a race are re-decided this many times, then retried later
# Renditions are written concurrently: a write is a PUT (and a HEAD when its key is taken) spent waiting on S3, not
# on the CPU, so the write phase costs about one write's round trips instead of one per rendition
# (benchmarks/end_to_end.py).
MAX_PARALLEL_WRITES = 8


class Superseded(Exception):
    """A newer upload of the same key already owns the renditions."""


class WriteContention(Exception):
    """Conditional writes kept losing races; transient, so the invocation fails and is retried."""


class RenditionWriter(ServicePart):
    def __init__(self, wiring: Wiring, max_parallel_writes: int = MAX_PARALLEL_WRITES) -> None:
        if max_parallel_writes < 1:
            raise ValueError(f"max_parallel_writes must be at least 1, not {max_parallel_writes}")
        super().__init__(wiring)
        self.max_parallel_writes = max_parallel_writes

    @cached_property
    def code_identity(self) -> str:
        """Computed at the first write, not at the cold start: it loads the JPEG encoder to name it, and reads the
        rendering code and the libraries' versions (renderer.identity)."""
        return renderer.identity(self.settings.pipeline)

    def fingerprint(self, name: str, fmt: str) -> str:
        """What made rendition `name` in format `fmt`: only what shapes it (provenance.rendition_fingerprint)."""
        return rendition_fingerprint(self.settings.pipeline, name, fmt, self.code_identity)

    def stamp(self, name: str, fmt: str, focus: tuple[float, float] | None) -> str:
        """A rendition's fingerprint; the same bytes uploaded again with another focal point make other crops."""
        fingerprint = self.fingerprint(name, fmt)
        return fingerprint if focus is None else f"{fingerprint} focus {format_focus(focus)}"

    def write(
        self,
        bucket: str,
        key: str,
        source: Source,
        result: OptimizedImage,
        renditions: list[Rendition] | None = None,
        *,
        focus: tuple[float, float] | None = None,
    ) -> tuple[list[OutputInfo], list[bool]]:
        """Every rendition of `result` (or the given ones of it) for the upload at `key`, written concurrently,
        each stamped with its own fingerprint and the page's fields (placeholder, sizes, crop window). Per
        rendition, False: this upload's rendition, made the same way, was there already and is kept."""
        renditions = result.renditions if renditions is None else renditions
        outputs = [
            OutputInfo(
                *(r.name, rendition_key(self.settings, key, r.name, r.format), r.width, r.height, len(r.data)),
                *(r.format, result.windows.get(r.name)),
            )
            for r in renditions
        ]
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

    def _sizes(self, result: OptimizedImage) -> str:
        """Every rendition's size, for the page's srcset (placeholder.format_sizes)."""
        jpegs = [(r.name, r.width, r.height) for r in result.renditions if r.format == "jpeg"]
        return placeholder.format_sizes(placeholder.sizes(jpegs, self.settings.pipeline.thumbnails))

    def _write_one(
        self, bucket: str, key: str, data: bytes, content_type: str, source: Source, page: dict[str, str]
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
                    metadata=placeholder.merged(source.metadata(), page),
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
            tie_lost = verdict is Verdict.TIE and not self.storage.holds(
                bucket, source.key, source.etag, source.version_id
            )
            if verdict is Verdict.NEWER_EXISTS or tie_lost:  # (a tie: gone since our look, so the other is newer)
                raise Superseded(key)
            if put(current.etag if current else None):
                return True
        raise WriteContention(f"{key}: conditional write lost {WRITE_ATTEMPTS} races")
