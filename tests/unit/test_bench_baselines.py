"""The benchmark's references do the same renditions as the pipeline: a ratio between two of them compares
like with like."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from benchmarks.baselines import VARIANTS
from tests.conftest import SAMPLES_DIR


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
