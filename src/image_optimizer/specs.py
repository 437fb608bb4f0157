"""Rendition specs as data, and the one naming rule shared by every side of the service."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

Fit = Literal["fit", "crop", "smart"]  # smart: a crop placed on the subject (crop.py)
MAIN = "main"

_SPEC = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*):(?P<w>[1-9][0-9]*)x(?P<h>[1-9][0-9]*):(?P<fit>fit|crop|smart)$"
)
THUMBNAIL_SYNTAX = "comma-separated name:WIDTHxHEIGHT:fit|crop|smart, e.g. thumb:150x150:crop (empty for none)"


@dataclass(frozen=True)
class ThumbnailSpec:
    name: str
    width: int
    height: int
    fit: Fit

    @property
    def crops(self) -> bool:
        """Cut to exactly its box (crop, or smart: a crop placed on the subject), rather than fitted inside it."""
        return self.fit != "fit"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pure pipeline needs; the defaults are the documented settings defaults."""

    max_width: int = 750
    max_height: int | None = None
    quality: int | None = None  # fixed JPEG quality; None: chosen per image to match `quality_target`
    quality_target: int = 85
    encoder: str = "auto"  # "auto": jpegli when it loads; "pillow": libjpeg-turbo only
    thumbnails: tuple[ThumbnailSpec, ...] = field(
        default_factory=lambda: parse_thumbnails("thumb:150x150:smart,small:320x320:fit")
    )
    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = 250_000_000
    max_full_decode_pixels: int = 100_000_000
    extra_formats: tuple[str, ...] = ()  # "webp" / "avif" siblings of every rendition
    threads: int = 1  # threads rendering and encoding at once (PIPELINE_THREADS); the bytes do not depend on it
    focus: tuple[float, float] | None = (
        None  # the upload's focal point (x-amz-meta-focus), fractions of the upright image
    )


def parse_thumbnails(text: str) -> tuple[ThumbnailSpec, ...]:
    """Parse `name:WxH:fit|crop|smart,...`; raises ValueError naming the bad item."""
    specs: list[ThumbnailSpec] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _SPEC.match(item)
        if not match:
            raise ValueError(f"bad thumbnail spec {item!r}")
        name = match["name"]
        if name == MAIN or any(spec.name == name for spec in specs):
            raise ValueError(f"thumbnail name {name!r} is reserved or repeated")
        fit: Fit = "crop" if match["fit"] == "crop" else "smart" if match["fit"] == "smart" else "fit"
        specs.append(ThumbnailSpec(name, int(match["w"]), int(match["h"]), fit))
    return tuple(specs)


def stem_of(path: str) -> str:
    """`a/b/my.photo.v2.png` -> `a/b/my.photo.v2` (only the last suffix goes). A name that would leave no stem
    (`..png`) keeps all of it."""
    pure = PurePosixPath(path)
    if not pure.name:
        return path
    stem = pure.stem if pure.stem not in ("", ".", "..") else pure.name
    return str(pure.with_name(stem))


S3_MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
EXTRA_FORMATS = ("webp", "avif")
_EXTENSIONS = {"jpeg": "jpg", "webp": "webp", "avif": "avif"}
CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}


def rendition_name(stem: str, rendition: str, fmt: str = "jpeg") -> str:
    """The naming rule: main -> `<stem>.jpg`, thumbnail -> `<stem>_<name>.jpg`; `.webp` / `.avif` siblings."""
    extension = _EXTENSIONS[fmt]
    return f"{stem}.{extension}" if rendition == MAIN else f"{stem}_{rendition}.{extension}"


def output_key(source_key: str, rendition: str, *, incoming_prefix: str, output_prefix: str, fmt: str = "jpeg") -> str:
    """`incoming/<path>/<stem>.<ext>` -> `media/<path>/<stem>[_<name>].jpg` (or .webp / .avif)."""
    relative = source_key.removeprefix(incoming_prefix)
    return output_prefix + rendition_name(stem_of(relative), rendition, fmt)


def failed_key(source_key: str, *, incoming_prefix: str, failed_prefix: str, tag: str = "") -> str:
    """`incoming/<path>` -> `failed/<path>`; with a `tag` (when an earlier rejected upload holds that key),
    `failed/<path stem>.<tag><suffix>`: `failed/docs/cv.3f2a9c1b.pdf`."""
    relative = source_key.removeprefix(incoming_prefix)
    if not tag:
        return failed_prefix + relative
    pure = PurePosixPath(relative)
    stem = stem_of(pure.name)
    suffix = pure.name[len(stem) :]
    tagged = failed_prefix + str(pure.with_name(f"{stem}.{tag}{suffix}"))
    while len(tagged.encode()) > S3_MAX_KEY_BYTES and len(stem) > 1:  # the tag must not push it past S3's limit
        stem = stem[:-1]
        tagged = failed_prefix + str(pure.with_name(f"{stem}.{tag}{suffix}"))
    return tagged


def oversized_rendition_key(
    source_key: str, config: PipelineConfig, *, incoming_prefix: str, output_prefix: str
) -> str | None:
    """Why the upload at `source_key` cannot have its renditions (a key over S3_MAX_KEY_BYTES), or None."""
    keys = (
        output_key(source_key, name, incoming_prefix=incoming_prefix, output_prefix=output_prefix, fmt=fmt)
        for name, fmt in rendition_outputs(config)
    )
    longest = max(keys, key=lambda key: len(key.encode()))
    if len(longest.encode()) <= S3_MAX_KEY_BYTES:
        return None
    return (
        f"key too long: rendition key …{longest[-30:]} would be {len(longest.encode())} bytes,"
        f" over S3's limit of {S3_MAX_KEY_BYTES}"
    )


def parse_extra_formats(text: str) -> tuple[str, ...]:
    """`avif, webp` -> ("webp", "avif"), always in EXTRA_FORMATS order (the same outputs give the same settings
    fingerprint); empty -> (); raises ValueError naming an unknown or repeated format."""
    formats: list[str] = []
    for item in filter(None, (part.strip().lower() for part in text.split(","))):
        if item not in EXTRA_FORMATS or item in formats:
            raise ValueError(f"unknown or repeated format {item!r}")
        formats.append(item)
    return tuple(fmt for fmt in EXTRA_FORMATS if fmt in formats)


def rendition_names(config: PipelineConfig) -> tuple[str, ...]:
    return (MAIN, *(spec.name for spec in config.thumbnails))


def rendition_outputs(config: PipelineConfig) -> list[tuple[str, str]]:
    """Every (rendition name, format) an upload gets: each rendition as JPEG and in every extra format."""
    return [(name, fmt) for name in rendition_names(config) for fmt in ("jpeg", *config.extra_formats)]
