"""Response bodies for download.Download without S3: shared by the unit and integration tests."""

from __future__ import annotations

from typing import Any

from image_optimizer.aws.download import Download
from image_optimizer.aws.storage import BODY_READ_ERRORS


class Body:
    """A body that hands out what is asked (at most `chunk` bytes a read) and records how much it gave."""

    def __init__(self, data: bytes, *, chunk: int = 1 << 30, fail_after: int | None = None) -> None:
        self.data, self.chunk, self.fail_after = data, chunk, fail_after
        self.given = 0
        self.reads = 0
        self.closed = False

    def read(self, amount: int = -1) -> bytes:
        self.reads += 1
        if self.fail_after is not None and self.given >= self.fail_after:
            from urllib3.exceptions import ProtocolError

            raise ProtocolError("Connection broken: ConnectionResetError(104, 'Connection reset by peer')")
        amount = len(self.data) if amount is None or amount < 0 else amount
        end = min(len(self.data), self.given + min(amount, self.chunk))
        if self.fail_after is not None:
            end = min(end, self.fail_after)  # the break comes exactly there, not at the next chunk's end
        piece = self.data[self.given : end]
        self.given = end
        return piece

    def close(self) -> None:
        self.closed = True


def download_of(data: bytes, **body: Any) -> Download:
    """A Download of `data` as storage makes one (its transient errors)."""
    return Download(Body(data, **body), len(data), BODY_READ_ERRORS)
