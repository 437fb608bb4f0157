"""The only reader of the environment: every setting declared once, validated at start-up."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import SettingsError
from .specs import THUMBNAIL_SYNTAX, PipelineConfig, ThumbnailSpec, parse_extra_formats, parse_thumbnails


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    accepted: str
    description: str
    parse: Callable[[str], Any]


def _prefix(value: str) -> str:
    if not value or not value.endswith("/") or value.startswith("/"):
        raise ValueError
    return value


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError
        return number

    return parse


def _optional(parse: Callable[[str], int]) -> Callable[[str], int | None]:
    return lambda value: parse(value) if value.strip() else None


def _choice(*accepted: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.strip().lower() not in accepted:
            raise ValueError
        return value.strip().lower()

    return parse


def _color(value: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"#?([0-9a-fA-F]{6})", value.strip())
    if not match:
        raise ValueError
    rgb = int(match[1], 16)
    return (rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255


def _header(value: str) -> str:
    if not value.isascii() or "\n" in value:
        raise ValueError
    return value


def _threads(value: str) -> int | None:
    """`auto` -> None (worked out from the CPU this process gets), else a count."""
    return None if value.strip().lower() == "auto" else _int_range(1, MAX_THREADS)(value)


# Lambda gives a function CPU in proportion to its memory: one vCPU's worth at 1,769 MB (the Lambda developer guide,
# "Configuring function memory"). Its OS shows 2 or more CPUs at any size, so their count says nothing there.
LAMBDA_MB_PER_VCPU = 1769
MAX_THREADS = 4  # the pipeline has about three things to do at once (main JPEG, thumbnails, siblings)


def available_threads(environ: Mapping[str, str]) -> int:
    """The vCPUs this process may use, rounded, within 1..MAX_THREADS: from the memory size on Lambda, else from
    the CPUs it may run on and any cgroup v2 quota (containers)."""
    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        vcpus = int(memory) / LAMBDA_MB_PER_VCPU
    else:
        vcpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        vcpus = min(vcpus, _cgroup_quota() or vcpus)
    return max(1, min(MAX_THREADS, int(vcpus + 0.5)))


def _cgroup_quota(path: str = "/sys/fs/cgroup/cpu.max") -> float | None:
    """CPUs' worth of time a cgroup v2 quota allows (`150000 100000` -> 1.5); None without one."""
    try:
        with open(path) as file:
            quota, period = file.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _optional_prefix(value: str) -> str:
    return _prefix(value) if value.strip() else ""


# Storage classes a CopyObject may name for the archive. GLACIER (Flexible Retrieval) is left out: like
# DEEP_ARCHIVE it needs a restore before every read, and DEEP_ARCHIVE is the cheaper of the two.
ARCHIVE_STORAGE_CLASSES = ("GLACIER_IR", "STANDARD", "STANDARD_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE")


def _storage_class(value: str) -> str:
    if value.strip().upper() not in ARCHIVE_STORAGE_CLASSES:
        raise ValueError
    return value.strip().upper()


def _bus_name(value: str) -> str:
    if value and not re.fullmatch(r"[/.\-_A-Za-z0-9]{1,256}", value):
        raise ValueError
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "INCOMING_PREFIX",
        "incoming/",
        "a key prefix ending in /",
        "only keys under it are processed (recursion guard)",
        _prefix,
    ),
    Setting("OUTPUT_PREFIX", "media/", "a key prefix ending in /", "where renditions are written", _prefix),
    Setting("FAILED_PREFIX", "failed/", "a key prefix ending in /", "where rejected originals are moved", _prefix),
    Setting(
        "MAX_WIDTH",
        "750",
        "an integer 1-10000",
        "main rendition fits this width; never upscaled",
        _int_range(1, 10_000),
    ),
    Setting(
        "MAX_HEIGHT",
        "",
        "empty (unset) or an integer 1-10000",
        "optional height bound for the main rendition",
        _optional(_int_range(1, 10_000)),
    ),
    Setting(
        "JPEG_QUALITY",
        "",
        "empty (per image) or an integer 1-95",
        "a fixed JPEG quality for every rendition, overriding the per-image choice",
        _optional(_int_range(1, 95)),
    ),
    Setting(
        "QUALITY_TARGET",
        "85",
        "an integer 50-95",
        "per-image quality: each rendition is encoded as small as it can be while looking like libjpeg-turbo"
        " at this quality",
        _int_range(50, 95),
    ),
    Setting(
        "JPEG_ENCODER",
        "auto",
        "auto or pillow",
        "auto: jpegli when it loads, else Pillow (libjpeg-turbo); pillow: always Pillow",
        _choice("auto", "pillow"),
    ),
    Setting(
        "EXTRA_FORMATS",
        "",
        "empty or a comma-separated subset of webp,avif",
        "also write <stem>.webp / <stem>.avif (and per thumbnail) for <picture>",
        parse_extra_formats,
    ),
    Setting(
        "THUMBNAILS", "thumb:150x150:smart,small:320x320:fit", THUMBNAIL_SYNTAX, "named thumbnails", parse_thumbnails
    ),
    Setting("BACKGROUND_COLOR", "#ffffff", "a colour #rrggbb", "transparency is flattened onto it", _color),
    Setting(
        "MAX_INPUT_BYTES",
        "52428800",
        "an integer 1-5368709120",
        "larger objects are rejected without downloading them",
        _int_range(1, 5 * 1024**3),
    ),
    Setting(
        "MAX_PIXELS",
        "250000000",
        "an integer 1-1000000000",
        "decompression-bomb guard: width x height read from the header",
        _int_range(1, 1_000_000_000),
    ),
    Setting(
        "MAX_FULL_DECODE_PIXELS",
        "100000000",
        "an integer 1-1000000000",
        "limit for images decoded at full size (every format but JPEG): keeps the decode within memory",
        _int_range(1, 1_000_000_000),
    ),
    Setting(
        "PIPELINE_THREADS",
        "auto",
        f"auto or an integer 1-{MAX_THREADS}",
        "threads rendering and encoding one upload at once; auto: the vCPUs the function gets (on Lambda, its"
        f" memory / {LAMBDA_MB_PER_VCPU:,} MB, so 1 below {math.ceil(LAMBDA_MB_PER_VCPU * 1.5):,} MB); the outputs are"
        " the same at any count",
        _threads,
    ),
    Setting(
        "CACHE_CONTROL", "public, max-age=86400", "an ASCII header value", "Cache-Control of every rendition", _header
    ),
    Setting(
        "EVENT_BUS_NAME",
        "",
        "an EventBridge bus name, or empty",
        "one ImageOptimized / ImageRejected event per upload goes to this bus (empty: none)",
        _bus_name,
    ),
    Setting(
        "MAX_RECEIVE_COUNT",
        "5",
        "an integer 3-1000",
        "Trigger=SQS: the ingest queue's maxReceiveCount; on that receive an upload is moved to FAILED_PREFIX"
        " without being decoded (every earlier attempt crashed, ran out of memory or time)",
        _int_range(3, 1000),  # two receives that decode, so a batch's other uploads finish first (poison.py)
    ),
    Setting(
        "ARCHIVE_PREFIX",
        "",
        "empty (off) or a key prefix ending in /",
        "accepted uploads are copied here before they leave INCOMING_PREFIX, to be re-rendered later (rerender)",
        _optional_prefix,
    ),
    Setting(
        "ARCHIVE_STORAGE_CLASS",
        "GLACIER_IR",
        ", ".join(ARCHIVE_STORAGE_CLASSES),
        "the S3 storage class of the archive copies",
        _storage_class,
    ),
)


@dataclass(frozen=True)
class Settings:
    incoming_prefix: str
    output_prefix: str
    failed_prefix: str
    cache_control: str
    max_input_bytes: int
    pipeline: PipelineConfig
    event_bus_name: str = ""
    max_receive_count: int = 5
    archive_prefix: str = ""  # empty: originals are not kept
    archive_storage_class: str = "GLACIER_IR"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate every setting; the first bad one raises SettingsError naming it and what it accepts."""
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = source.get(setting.name, setting.default)
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as error:
            detail = f" ({error})" if str(error) else ""
            raise SettingsError(f"{setting.name}={raw!r} is invalid{detail}: expected {setting.accepted}") from None
    names = [name for name in ("INCOMING_PREFIX", "OUTPUT_PREFIX", "FAILED_PREFIX", "ARCHIVE_PREFIX") if values[name]]
    prefixes = [values[name] for name in names]
    for index, prefix in enumerate(prefixes):
        if any(other.startswith(prefix) or prefix.startswith(other) for other in prefixes[index + 1 :]):
            raise SettingsError(
                f"{', '.join(names[:-1])} and {names[-1]} must not overlap (got {', '.join(prefixes)}):"
                f" expected {len(names)} disjoint key prefixes"
            )
    thumbnails: tuple[ThumbnailSpec, ...] = values["THUMBNAILS"]
    return Settings(
        incoming_prefix=values["INCOMING_PREFIX"],
        output_prefix=values["OUTPUT_PREFIX"],
        failed_prefix=values["FAILED_PREFIX"],
        cache_control=values["CACHE_CONTROL"],
        max_input_bytes=values["MAX_INPUT_BYTES"],
        event_bus_name=values["EVENT_BUS_NAME"],
        max_receive_count=values["MAX_RECEIVE_COUNT"],
        archive_prefix=values["ARCHIVE_PREFIX"],
        archive_storage_class=values["ARCHIVE_STORAGE_CLASS"],
        pipeline=PipelineConfig(
            max_width=values["MAX_WIDTH"],
            max_height=values["MAX_HEIGHT"],
            quality=values["JPEG_QUALITY"],
            quality_target=values["QUALITY_TARGET"],
            encoder=values["JPEG_ENCODER"],
            extra_formats=values["EXTRA_FORMATS"],
            thumbnails=thumbnails,
            background=values["BACKGROUND_COLOR"],
            max_pixels=values["MAX_PIXELS"],
            max_full_decode_pixels=values["MAX_FULL_DECODE_PIXELS"],
            threads=values["PIPELINE_THREADS"] or available_threads(source),
        ),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once (a cold start fails here on a bad value)."""
    return load_settings()
