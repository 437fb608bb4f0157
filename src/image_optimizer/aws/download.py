"""A GET's body as a file the decoder reads while it is still arriving. No boto3 here: any body with read() and
close() will do (botocore's StreamingBody in the service), and the caller names the errors that mean the transfer
broke off."""

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
    the decode overlap instead of adding up. Everything received is kept: seeking back costs nothing, and reading
    the whole file (as the WebP, HEIF and AVIF openers do) returns it without a copy.

    `transient`: the exceptions from `body.read` that mean the transfer broke off; they, and a body that ends
    short of `size` bytes, raise ReadFailed, now and on every later read. Anything else (a bug) propagates."""

    CHUNK = 65536  # Pillow's decoders read 64 KiB at a time

    def __init__(self, body: _Body, size: int, transient: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self._body, self.size, self._transient = body, size, transient
        self._received = io.BytesIO()  # appended to only; BytesIO.getvalue() hands its buffer out without a copy
        self._position = 0
        self._ended = False
        self._failure: ReadFailed | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def received(self) -> int:
        """Bytes received so far."""
        return self._received.tell()

    def _fill(self, end: int | None) -> None:
        """Receive until `end` bytes (None: all of them) are here, or the body ends."""
        if self._failure:
            raise self._failure
        while not self._ended and (end is None or self.received < end):
            try:
                chunk = self._body.read(self.CHUNK if end is None else max(self.CHUNK, end - self.received))
            except self._transient as error:
                self._failure = ReadFailed(f"download broke off after {self.received} bytes: {error}")
                raise self._failure from error
            self._received.write(chunk)
            self._ended = not chunk
        if self._ended and self.received != self.size:
            self._failure = ReadFailed(f"download ended after {self.received} of {self.size} bytes")
            raise self._failure

    def read(self, size: int | None = -1) -> bytes:
        end = None if size is None or size < 0 else self._position + size
        self._fill(end)
        if end is None and self._position == 0:
            data = self._received.getvalue()  # the buffer itself, shared (nothing is appended any more)
        else:
            buffer = self._received.getbuffer()
            try:
                data = bytes(buffer[self._position : end])
            finally:
                buffer.release()  # an export would keep the next write from growing the buffer
        self._position += len(data)
        return data

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            self._fill(None)
            offset += self.received
        elif whence == io.SEEK_CUR:
            offset += self._position
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    def finish(self) -> int:
        """Receive the rest; the byte count (ReadFailed when the transfer broke off or came up short)."""
        self._fill(None)
        return self.received

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
