"""The archive step (ARCHIVE_PREFIX): a server-side copy of an accepted upload, made and verified before the
original may leave INCOMING_PREFIX, so its renditions can be made again later with other settings (rerender.py).

The copy carries the upload's identity (provenance.Source.metadata, with `pipeline: archive`) and is judged like a
rendition: a retry finds its own copy and stops, a stale run never replaces a newer upload's copy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..imaging.crop import FOCUS_METADATA
from ..settings import Settings
from .keys import archive_key
from .provenance import Source, Verdict, judge
from .storage import ObjectChanged, ObjectGone, ObjectHead, S3Storage

ARCHIVE_CONFIG = "archive"  # the `pipeline` metadata of an archive copy: its bytes are the upload's own
COPY_ATTEMPTS = 3  # conditional copies that lost a race are re-decided this many times, then retried later
NEEDS_RESTORE = ("DEEP_ARCHIVE", "GLACIER")  # classes whose objects must be restored before they can be read


class NewerArchived(Exception):
    """A newer upload of the same key holds the archive copy: this run is stale."""


class ArchiveFailed(Exception):
    """The copy could not be made or verified; transient: the original stays and the event comes back."""


def keep_upload(
    storage: S3Storage,
    settings: Settings,
    bucket: str,
    source: Source,
    size: int,
    content_type: str | None,
    still_current: Callable[[], bool],
    focus: str = "",
) -> None:
    """The service's step, when ARCHIVE_PREFIX is set: the upload `source` names, kept (keep_original), with the
    client's focal point (`focus`, x-amz-meta-focus) so that a re-render places the crops where the upload did."""
    if not settings.archive_prefix:
        return
    target = archive_key(settings, source.key)
    keep_original(
        storage,
        bucket,
        target,
        source,
        size=size,
        content_type=content_type,
        storage_class=settings.archive_storage_class,
        still_current=still_current,
        extra={FOCUS_METADATA: focus} if focus else {},
    )


def keep_original(
    storage: S3Storage,
    bucket: str,
    target: str,
    source: Source,
    *,
    size: int,
    content_type: str | None,
    storage_class: str,
    still_current: Callable[[], bool],
    extra: dict[str, str] | None = None,
) -> bool:
    """Copy the upload `source` names to `target` unless its copy is there; return only once it is there and
    verified. True: copied now; False: this upload's copy was there already (an earlier attempt).
    Raises NewerArchived (a newer upload's copy holds `target`) or ArchiveFailed. `still_current`: is the upload
    still at its key, looked at now (a same-second tie with another upload's copy: only then may it replace it)."""
    mine = replace(source, config=ARCHIVE_CONFIG)
    for _ in range(COPY_ATTEMPTS):
        held = storage.head(bucket, target)
        # Nothing there: only an upload still at its key may archive (a replaced one's successor will).
        absent = Verdict.WRITE if mine.current else Verdict.NEWER_EXISTS
        verdict = judge(held.metadata, mine) if held else absent
        if verdict is Verdict.SAME:
            _verify(held, mine, size, target)
            return False
        if verdict is Verdict.NEWER_EXISTS or (verdict is Verdict.TIE and not still_current()):
            raise NewerArchived(target)
        try:
            storage.copy(
                bucket,
                source.key,
                target,
                etag=source.etag,
                version_id=source.version_id,
                metadata={**mine.metadata(), **(extra or {})},
                content_type=content_type,
                storage_class=storage_class,
                replacing=held.etag if held else None,
                only_if_free=held is None,
            )
        except (ObjectChanged, ObjectGone):
            continue  # the target changed meanwhile, or the upload left its key: look again
        _verify(storage.head(bucket, target), mine, size, target)
        return True
    raise ArchiveFailed(f"{target}: conditional copy lost {COPY_ATTEMPTS} races")


def _verify(held: ObjectHead | None, mine: Source, size: int, target: str) -> None:
    """The copy at `target` is this upload's, whole (its size), before the original may go."""
    if held is None or judge(held.metadata, mine) is not Verdict.SAME:
        raise ArchiveFailed(f"{target}: the archive copy is not this upload's after the copy")
    if held.size is not None and held.size != size:
        raise ArchiveFailed(f"{target}: the archive copy holds {held.size} bytes, the upload {size}")
