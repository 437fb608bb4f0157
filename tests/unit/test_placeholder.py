"""The page's placeholder (ThumbHash + average colour) computed from the main image, and renditions wider than the
main (a 2x `fit` thumbnail for srcset) rendered from the source."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageStat

from image_optimizer.imaging import pipeline, placeholder, thumbhash
from image_optimizer.imaging.pipeline import optimize
from image_optimizer.specs import PipelineConfig, parse_thumbnails
from tests.conftest import SAMPLES_DIR, gradient, jpeg_bytes, png_bytes


def decoded_placeholder(found: placeholder.Placeholder) -> Image.Image:
    w, h, rgba = thumbhash.thumbhash_to_rgba(found.thumbhash)
    return Image.frombytes("RGBA", (w, h), rgba).convert("RGB")


def test_the_placeholder_looks_like_the_image_and_has_its_shape() -> None:
    image = gradient(1200, 600)  # red top-left quarter on a grey ramp
    found = placeholder.of_image(image)
    assert len(found.thumbhash) <= 25
    assert thumbhash.thumbhash_to_approximate_aspect_ratio(found.thumbhash) == pytest.approx(2.0, rel=0.2)
    painted = decoded_placeholder(found).resize((2, 2), Image.Resampling.BOX)  # the quarters' means
    red_top_left, red_bottom_right = (painted.getpixel(xy)[0] - painted.getpixel(xy)[1] for xy in ((0, 0), (1, 1)))
    assert red_top_left > red_bottom_right + 60  # red where the image is red, not where it is grey


def test_the_average_colour_is_the_images_mean() -> None:
    image = gradient(900, 600)
    mean = ImageStat.Stat(image).mean
    colour = placeholder.of_image(image).average_color
    assert colour.startswith("#") and len(colour) == 7
    channels = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    assert channels == pytest.approx(mean, abs=3)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_grayscale_and_tiny_images_have_a_placeholder(mode: str) -> None:
    found = placeholder.of_image(Image.new(mode, (1, 3), 90 if mode == "L" else (90, 90, 90)))
    assert found.average_color == "#5a5a5a"
    assert thumbhash.thumbhash_to_approximate_aspect_ratio(found.thumbhash) < 1


@pytest.mark.parametrize("sample", ["kodim03.png", "landscape_exif6.jpg", "alpha.webp"])
def test_encoding_at_32_px_paints_what_100_px_would(sample: str) -> None:
    """ENCODE_SIDE's claim: the hash of a 32 px copy decodes to the placeholder of a 100 px copy (the reference's
    limit), within a level or two."""
    with Image.open(SAMPLES_DIR / sample) as source:
        image = source.convert("RGB")
    at_100 = image.copy()
    at_100.thumbnail((100, 100), Image.Resampling.LANCZOS)
    reference = thumbhash.rgba_to_thumbhash(at_100.width, at_100.height, at_100.convert("RGBA").tobytes())
    ours = placeholder.of_image(image).thumbhash
    a = np.asarray(decoded_placeholder(placeholder.Placeholder(ours, "")), float)
    b = np.asarray(decoded_placeholder(placeholder.Placeholder(reference, "")), float)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 2.0


def test_optimize_gives_the_main_images_placeholder() -> None:
    result = optimize(png_bytes(gradient(1600, 1000)))
    assert result.placeholder is not None
    with Image.open(io.BytesIO(result.main.data)) as main:
        expected = placeholder.of_image(main.convert("RGB"))
    assert result.placeholder.average_color == expected.average_color or _close(result.placeholder, expected)
    assert thumbhash.thumbhash_to_approximate_aspect_ratio(result.placeholder.thumbhash) == pytest.approx(1.6, rel=0.15)


def _close(a: placeholder.Placeholder, b: placeholder.Placeholder) -> bool:
    """JPEG moves the mean by a level at most."""
    return all(abs(int(a.average_color[i : i + 2], 16) - int(b.average_color[i : i + 2], 16)) <= 2 for i in (1, 3, 5))


def test_sizes_round_trip_and_mark_crops() -> None:
    specs = parse_thumbnails("thumb:150x150:crop,small:320x320:fit")
    sizes = placeholder.sizes([("main", 750, 500), ("thumb", 150, 150), ("small", 320, 213)], specs)
    text = placeholder.format_sizes(sizes)
    assert text == "main:750x500:fit,thumb:150x150:crop,small:320x213:fit"
    assert placeholder.parse_sizes(text) == sizes
    assert placeholder.parse_sizes("main:750x500:fit,garbage,x:1:fit") == sizes[:1]


# A 2x main for srcset: THUMBNAILS=...,large:1500x1500:fit next to the 750 px main.
TWO_X = PipelineConfig(thumbnails=parse_thumbnails("thumb:150x150:crop,small:320x320:fit,large:1500x1500:fit"))


def fine_stripes(width: int, height: int) -> Image.Image:
    """Detail a 1500 px copy keeps and a 750 px one cannot: 4 px stripes, 2 px at 1500, below Nyquist at 750."""
    stripes = np.zeros((height, width, 3), np.uint8)
    stripes[:, (np.arange(width) // 2) % 2 == 0] = 230
    stripes[..., 0] = np.where((np.arange(height) // 200 % 2 == 0)[:, None], stripes[..., 0], 40)
    return Image.fromarray(stripes)


def test_a_fit_rendition_larger_than_the_main_is_rendered_from_the_source(monkeypatch: Any) -> None:
    source = fine_stripes(3000, 2000)
    from_source = []
    real = pipeline.render_upright

    def spy(image: Image.Image, scale: Any, plan: Any, *args: Any) -> Image.Image:
        from_source.append((plan.name, image.size))
        return real(image, scale, plan, *args)

    monkeypatch.setattr(pipeline, "render_upright", spy)
    result = optimize(png_bytes(source), TWO_X)

    sizes = {r.name: (r.width, r.height) for r in result.renditions}
    assert sizes == {"main": (750, 500), "thumb": (150, 150), "small": (320, 213), "large": (1500, 1000)}
    rendered_from = dict(from_source)
    assert set(rendered_from) == {"main", "large"}  # thumb and small come from the main, large does not
    assert min(rendered_from["large"]) >= 1000  # the working image, not the 750 px main
    with Image.open(io.BytesIO(next(r.data for r in result.renditions if r.name == "large"))) as large:
        pixels = np.asarray(large.convert("L"), float)
    reference = np.asarray(source.convert("L").resize((1500, 1000), Image.Resampling.LANCZOS), float)
    upscaled = np.asarray(
        Image.open(io.BytesIO(result.main.data)).convert("L").resize((1500, 1000), Image.Resampling.LANCZOS), float
    )
    # The stripes survive (an upscaled main has lost them: about 100 levels off everywhere).
    assert np.abs(pixels - reference).mean() < 25 < np.abs(upscaled - reference).mean()


def test_a_2x_rendition_never_upscales_a_small_source() -> None:
    result = optimize(jpeg_bytes(gradient(1000, 800)), TWO_X)
    sizes = {r.name: (r.width, r.height) for r in result.renditions}
    assert sizes["large"] == (1000, 800) and sizes["main"] == (750, 600)


def test_metadata_stays_within_what_s3_takes_keeping_provenance_whole() -> None:
    found = placeholder.Placeholder(b"\x01" * 24, "#102030")
    page = placeholder.metadata(found, 750, 500, ",".join(f"thumbnail{i}:100x100:fit" for i in range(50)))
    short = {"source-key": "incoming/cat.jpg", "source-etag": "e" * 32}
    assert placeholder.merged(short, page) == {**short, **placeholder.metadata(found, 750, 500, page["renditions"])}
    provenance = {"source-key": "k" * 1024, "source-etag": "e" * 32, "pipeline": "p" * 16}
    fields = placeholder.merged(provenance, page)
    assert sum(len(f"x-amz-meta-{key}") + len(value) for key, value in fields.items()) <= 2048
    assert fields.items() >= provenance.items()  # provenance whole
    assert "renditions" not in fields and fields["thumbhash"] == found.thumbhash_base64  # the sizes went first
