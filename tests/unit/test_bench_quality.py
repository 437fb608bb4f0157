"""The benchmark's SSIMULACRA2 with the reference's half computed once gives the `ssimulacra2` package's own
result, to the last bit, whatever the shape (small images stop at fewer scales)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter
from ssimulacra2 import compute_ssimulacra2

from benchmarks.quality import Reference
from tests.conftest import gradient


def png(image: Image.Image) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    buffer.seek(0)
    return buffer


def textured(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(width * height)
    noise = rng.normal(0, 25, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(gradient(width, height), dtype=float) + noise, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


@pytest.mark.parametrize(("width", "height"), [(301, 207), (150, 150), (40, 23), (9, 9)])
def test_scores_equal_the_packages_for_every_output_against_one_reference(width: int, height: int) -> None:
    original = textured(width, height)
    reference = Reference(original)
    outputs = [jpeg(original, 30), jpeg(original, 90), original.filter(ImageFilter.GaussianBlur(1.5)), original]
    scores = [reference.score(output) for output in outputs]
    assert scores == [compute_ssimulacra2(png(original), png(output)) for output in outputs]
    assert scores[0] < scores[1] < scores[3] == 100.0  # and it still ranks: heavier loss, lower score


def test_a_different_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="reference"):
        Reference(textured(40, 30)).score(textured(30, 40))
