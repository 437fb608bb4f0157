"""Where each object of an upload lives under the deployed prefixes: its renditions, its failed/ copy, its archive
copy, and back from an archive copy to the key it was uploaded at. The rules themselves are specs.py's."""

from __future__ import annotations

from ..settings import Settings
from ..specs import MAIN, failed_key, output_key


def rendition_key(settings: Settings, key: str, name: str = MAIN, fmt: str = "jpeg") -> str:
    """Rendition `name` in format `fmt` of the upload at `key` (the main JPEG by default)."""
    prefixes = {"incoming_prefix": settings.incoming_prefix, "output_prefix": settings.output_prefix}
    return output_key(key, name, **prefixes, fmt=fmt)


def quarantine_key(settings: Settings, key: str, tag: str = "") -> str:
    """failed/<same path>, or beside it tagged with `tag` (specs.failed_key)."""
    return failed_key(key, incoming_prefix=settings.incoming_prefix, failed_prefix=settings.failed_prefix, tag=tag)


def archive_key(settings: Settings, key: str) -> str:
    """`incoming/<path>/<file name as uploaded>` -> `<archive prefix><path>/<file name as uploaded>`."""
    return settings.archive_prefix + key.removeprefix(settings.incoming_prefix)


def uploaded_key(settings: Settings, archived_key: str) -> str:
    """The key an archive copy's upload had: its renditions are named from it."""
    return settings.incoming_prefix + archived_key.removeprefix(settings.archive_prefix)
