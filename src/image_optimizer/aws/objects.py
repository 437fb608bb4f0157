"""What the service takes and gives: the object an event names, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["processed", "rejected", "ignored", "skipped"]
STALE = "stale event: the key holds a newer upload with its own event"  # a skipped Outcome's reason


@dataclass(frozen=True)
class ObjectRef:
    """One object an event announces, whatever the event's shape."""

    bucket: str
    key: str
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None
    sequencer: str | None = None


@dataclass(frozen=True)
class OutputInfo:
    name: str
    key: str
    width: int
    height: int
    bytes: int
    format: str = "jpeg"
    window: tuple[int, int, int, int] | None = None  # a cropped thumbnail's source window: x0, y0, x1, y1 (upright)


def window_metadata(output: OutputInfo, source_size: str) -> dict[str, str]:
    """A cropped thumbnail's window (x-amz-meta-window: x0,y0,x1,y1) and the size of the upright source it is in
    (x-amz-meta-source-size: WxH), for clients that read renditions rather than events (the Django helpers)."""
    if output.window is None:
        return {}
    return {"window": ",".join(map(str, output.window)), "source-size": source_size}


@dataclass(frozen=True)
class Outcome:
    status: Status
    bucket: str
    key: str
    reason: str = ""
    error_kind: str = ""
    bytes_in: int = 0
    outputs: list[OutputInfo] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def bytes_out(self) -> int:
        return sum(output.bytes for output in self.outputs)
