"""A GET's body as a file the decoder reads while it is still arriving. No boto3 here: any body with read() and
close() will do (botocore's StreamingBody in the service)."""

from __future__ import annotations

import io
from typing import Any, Protocol


class ReadFailed(Exception):
    """The body of a GET broke off (reset, timeout, fewer bytes than announced): transient, and never the
    upload's fault, so nothing may treat it as a truncated image."""


class _Body(Protocol):
    def read(self, amount: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


class Download(io.RawIOBase):
    """A GET's body as a seekable, read-only file that fills as it is read. The decoder reads from it while the
    rest is still arriving (the kernel keeps receiving into the socket buffer meanwhile), so the download and
    the decode overlap instead of adding up. Everything read is kept: seeking back costs nothing, and the
    whole file stays available as when it was read at once."""

    CHUNK = 65536  # Pillow's decoders read 64 KiB at a time

    def __init__(self, body: _Body, size: int) -> None:
        super().__init__()
        self._body, self.size = body, size
        self._buffer = bytearray()
        self._position = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _fill(self, end: int | None) -> None:
        """Receive until `end` bytes (None: all of them) are here, or the body ends."""
        while not self._ended and (end is None or len(self._buffer) < end):
            try:
                chunk = self._body.read(self.CHUNK if end is None else max(self.CHUNK, end - len(self._buffer)))
            except Exception as error:  # botocore and urllib3 raise a zoo of these, none the image's fault
                raise ReadFailed(f"download broke off after {len(self._buffer)} bytes: {error}") from error
            self._buffer += chunk
            self._ended = not chunk

    def read(self, size: int | None = -1) -> bytes:
        end = None if size is None or size < 0 else self._position + size
        self._fill(end)
        with memoryview(self._buffer) as received:  # released before the buffer may grow again
            data = bytes(received[self._position : end])
        self._position += len(data)
        return data

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            self._fill(None)
            offset += len(self._buffer)
        elif whence == io.SEEK_CUR:
            offset += self._position
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    @property
    def received(self) -> int:
        """Bytes received so far."""
        return len(self._buffer)

    def finish(self) -> int:
        """Receive the rest (botocore checks the length and any checksum at the end); the byte count."""
        self._fill(None)
        return len(self._buffer)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
