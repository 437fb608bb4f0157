"""Which upload a rendition came from, and whether an upload may replace the renditions already there.

S3 delivers events late, twice and out of order; each rendition carries its source's identity in metadata,
so a stale event never overwrites the renditions of a newer upload of the same key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote, unquote

from ..specs import PipelineConfig


class Verdict(Enum):
    WRITE = "write"  # nothing there, or renditions of an older upload (or of other settings or code)
    SAME = "same"  # already written from this very upload with these settings and code: skip, bytes unchanged
    NEWER_EXISTS = "newer"  # a newer upload of the key owns the renditions: a stale event
    # Another upload of the key, modified in the same second, and no sequencers to order the two (S3 Batch
    # Operations tasks carry none): write only while this upload is still at its key, looked at just before.
    TIE = "tie"


@dataclass(frozen=True)
class Source:
    key: str
    etag: str
    version_id: str | None
    last_modified: str  # ISO 8601 from S3 (second resolution)
    sequencer: str | None  # from the event: orders the events of one key exactly, when present
    config: str  # fingerprint of the settings and code that made the rendition (rendition_fingerprint)
    current: bool = True  # the upload is still the object at its key (nothing newer replaced it)
    derived_from: str = ""  # rerender --from-main: the main rendition these pixels were taken from

    def metadata(self) -> dict[str, str]:
        """S3 user metadata is ASCII: the key is percent-encoded."""
        fields = {
            "source-key": metadata_value(self.key),
            "source-etag": self.etag.strip('"'),
            "source-last-modified": self.last_modified,
            "pipeline": self.config,
        }
        if self.sequencer:
            fields["source-sequencer"] = self.sequencer
        if self.version_id:
            fields["source-version-id"] = self.version_id
        if self.derived_from:
            fields["derived-from"] = metadata_value(self.derived_from)
        return fields

    @classmethod
    def from_metadata(cls, key: str | None, metadata: Mapping[str, str]) -> Source:
        """The upload an archive copy or a rendition came from, as its metadata names it (`key`: None to take the
        one the metadata names); the reverse of metadata(), without the fingerprint."""
        return cls(
            unquote(metadata.get("source-key", "")) if key is None else key,
            metadata.get("source-etag", ""),
            metadata.get("source-version-id"),
            metadata.get("source-last-modified", ""),
            metadata.get("source-sequencer"),
            "",
        )


def metadata_value(text: str) -> str:
    return quote(text, safe="/ :;,()=+-_.'\"[]")[:1024]


def rendition_fingerprint(config: PipelineConfig, name: str, fmt: str, renderer: str) -> str:
    """What made one rendition: only what shapes it, so adding a thumbnail size keeps every rendition already
    written (rerender). The main image's geometry and quality settings shape every rendition (thumbnails may be
    resampled from it, and their quality follows its own); a thumbnail's own spec shapes only it; `renderer` is the
    code that ran them (renderer.identity: the JPEG encoder that actually ran, since a process where jpegli could
    not load writes other bytes from the same settings; library versions; a digest of the rendering code). A fixed
    quality makes the quality target moot, so it is left out. The other thumbnails' sizes, the input limits and the thread count are left out, and
    so are the extra formats: WebP's smaller largest side (layout.largest_side) shapes only a main taller than
    16,383 px with MAX_HEIGHT unset, and adding WebP must not rewrite every JPEG for those few."""
    spec = next((thumbnail for thumbnail in config.thumbnails if thumbnail.name == name), None)
    shaping = (
        config.max_width,
        config.max_height,
        config.quality,
        config.quality_target if config.quality is None else 0,
        config.encoder,
        config.background,
    )
    return hashlib.sha256(f"{shaping!r} {name} {spec!r} {fmt} {renderer}".encode()).hexdigest()[:16]


def _sequencer_key(sequencer: str) -> str:
    # S3: compare sequencers of one key as hex strings after right-padding the shorter with zeros.
    return sequencer.upper().ljust(32, "0")


def judge(existing: dict[str, str], mine: Source) -> Verdict:
    """Decide from the metadata of the rendition already at the output key."""
    theirs_etag = existing.get("source-etag", "")
    if theirs_etag == mine.etag.strip('"') and existing.get("source-version-id") == mine.version_id:
        return Verdict.SAME if existing.get("pipeline") == mine.config else Verdict.WRITE
    if not mine.current:
        # Something newer replaced this upload at its key: it owns the outputs, whatever the clocks say
        # (timestamps have one-second resolution, and Batch Operations events carry no sequencer).
        return Verdict.NEWER_EXISTS
    if existing.get("source-key") != metadata_value(mine.key):
        # Another key (photo.png vs photo.jpg) maps to the same outputs; sequencers only order events of one key.
        return Verdict.WRITE
    theirs_sequencer = existing.get("source-sequencer")
    if theirs_sequencer and mine.sequencer:
        newer = _sequencer_key(theirs_sequencer) > _sequencer_key(mine.sequencer)
        return Verdict.NEWER_EXISTS if newer else Verdict.WRITE
    theirs_modified = existing.get("source-last-modified", "")
    if theirs_modified == mine.last_modified:
        return Verdict.TIE
    return Verdict.NEWER_EXISTS if theirs_modified > mine.last_modified else Verdict.WRITE
