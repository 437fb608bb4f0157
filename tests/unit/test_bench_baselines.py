"""The benchmark's references do the same renditions as the pipeline: a ratio between two of them compares
like with like."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from benchmarks.baselines import VARIANTS
from tests.conftest import FIXTURES_DIR, SAMPLES_DIR


def sizes(parts: list[bytes]) -> list[tuple[int, int]]:
    return [Image.open(io.BytesIO(part)).size for part in parts]


@pytest.mark.parametrize("sample", ["landscape_exif6.jpg", "iphone8plus.heic", "kodim03.png", "alpha.webp"])
def test_least_writes_every_rendition_at_the_pipelines_sizes_upright(sample: str) -> None:
    data = (SAMPLES_DIR / sample).read_bytes()
    ours, least = VARIANTS["ours"](data), VARIANTS["least"](data)
    assert sizes(least) == sizes(ours)
    # upright like ours: the mains differ by a few levels on average (mirrored, each sample differs by 11 or more)
    ours_main, least_main = (Image.open(io.BytesIO(parts[0])).convert("L") for parts in (ours, least))
    assert ImageStat.Stat(ImageChops.difference(ours_main, least_main)).mean[0] < 5
    # and baseline (SOF0), not progressive: the cheapest libjpeg-turbo encode
    assert all(b"\xff\xc0" in part and b"\xff\xc2" not in part for part in least)


@pytest.mark.parametrize("sample", ["landscape_exif6.jpg", "kodim03.png", "alpha.webp"])
def test_fair_libvips_decodes_once_and_writes_every_rendition_upright(sample: str, monkeypatch: Any) -> None:
    """The libvips reference as its docs write it: one thumbnail_buffer (shrink-on-load) to the main size, the
    thumbnails from that main in memory, at the pipeline's sizes and upright."""
    import pyvips

    data = (SAMPLES_DIR / sample).read_bytes()
    decodes: list[dict[str, Any]] = []
    real = pyvips.Image.thumbnail_buffer

    def counted(*args: Any, **kwargs: Any) -> Any:
        decodes.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pyvips.Image, "thumbnail_buffer", counted)
    ours, vips = VARIANTS["ours"](data), VARIANTS["vips"](data)
    assert len(decodes) == 1
    assert sizes(vips) == sizes(ours)
    ours_main, vips_main = (Image.open(io.BytesIO(parts[0])).convert("L") for parts in (ours, vips))
    assert ImageStat.Stat(ImageChops.difference(ours_main, vips_main)).mean[0] < 5
    assert b"\xff\xc2" in vips[0]  # progressive main


def test_fair_libvips_converts_colour_only_when_the_source_carries_a_profile(monkeypatch: Any) -> None:
    import pyvips

    exported: list[bool] = []
    real = pyvips.Image.thumbnail_buffer

    def recorded(*args: Any, **kwargs: Any) -> Any:
        exported.append("export_profile" in kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pyvips.Image, "thumbnail_buffer", recorded)
    plain = (SAMPLES_DIR / "kodim03.png").read_bytes()
    with_profile = (FIXTURES_DIR / "icc_displayp3_8x8_rgba.png").read_bytes()
    VARIANTS["vips"](plain)
    VARIANTS["vips"](with_profile)
    assert exported == [False, True]
