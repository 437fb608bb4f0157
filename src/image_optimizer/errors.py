"""Typed errors. `ImageRejected` is permanent: retrying the same bytes cannot help."""

from __future__ import annotations


class ImageRejected(Exception):
    """The upload is not an image this service will convert. The message is one line."""

    kind = "rejected"

    def __init__(self, message: str) -> None:
        # A one-line message is part of the contract (logs, S3 metadata, CLI stderr).
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class UnsupportedFormat(ImageRejected):
    kind = "unsupported_format"


class CorruptImage(ImageRejected):
    kind = "corrupt"


class TruncatedImage(CorruptImage):
    kind = "truncated"


class ImageTooLarge(ImageRejected):
    kind = "too_large"


class KeyTooLong(ImageRejected):
    """A rendition's key would be longer than S3 allows: no retry can write it."""

    kind = "key_too_long"


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot start with."""


class FailedEveryAttempt(ImageRejected):
    """A poison upload: every attempt at it ended in a crash, out of memory or a timeout, so it is quarantined
    without being decoded again (poison.py, dead_letters.py)."""

    kind = "poison"
