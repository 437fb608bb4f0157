"""What the service's parts (the writer, the quarantine, the re-renderer) share: they read the service's storage and
settings at each use, so each is one value however it is reached; replacing the service's settings, as a test or a
re-wiring does, replaces the parts' too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..settings import Settings
    from .storage import S3Storage


class Wiring(Protocol):
    storage: S3Storage
    settings: Settings


class ServicePart:
    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring

    @property
    def storage(self) -> S3Storage:
        return self.wiring.storage

    @property
    def settings(self) -> Settings:
        return self.wiring.settings
