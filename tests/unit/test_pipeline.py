"""The pure pipeline on images generated here: sizes, orientation, alpha, depth, privacy, rejections."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pytest
from PIL import Image

from image_optimizer.errors import CorruptImage, ImageRejected, ImageTooLarge, TruncatedImage, UnsupportedFormat
from image_optimizer.imaging import encode, pipeline
from image_optimizer.imaging.layout import _UPRIGHT
from image_optimizer.imaging.pipeline import optimize
from image_optimizer.specs import PipelineConfig, ThumbnailSpec
from tests.conftest import gradient, jpeg_bytes, png_bytes
from tests.jpeg_markers import metadata_markers, segments

INVERSE = {Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90}


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a.convert("RGB"), float) - np.asarray(b.convert("RGB"), float)).mean())


def stored_as(upright: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores for an upright scene when it writes this EXIF orientation."""
    image = upright
    for method in reversed(_UPRIGHT.get(orientation, ())):
        image = image.transpose(INVERSE.get(method, method))
    return image


def with_orientation(image: Image.Image, orientation: int, fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    return buffer.getvalue()


def test_renditions_are_main_then_thumbnails_with_the_configured_sizes() -> None:
    result = optimize(jpeg_bytes(gradient(3000, 2000)))
    assert [(r.name, r.width, r.height) for r in result.renditions] == [
        ("main", 750, 500),
        ("thumb", 150, 150),
        ("small", 320, 213),
    ]
    for rendition in result.renditions:
        assert decode(rendition.data).size == (rendition.width, rendition.height)


def test_never_upscales_and_crop_keeps_the_box_aspect() -> None:
    result = optimize(png_bytes(gradient(120, 90)))
    sizes = {r.name: (r.width, r.height) for r in result.renditions}
    assert sizes == {"main": (120, 90), "thumb": (90, 90), "small": (120, 90)}


def test_max_height_bounds_the_main_rendition() -> None:
    config = PipelineConfig(max_width=750, max_height=400, thumbnails=())
    result = optimize(jpeg_bytes(gradient(1000, 2000)), config)
    assert [(r.width, r.height) for r in result.renditions] == [(200, 400)]


def test_crop_thumbnail_is_exactly_the_box_and_centred() -> None:
    image = Image.new("RGB", (1200, 400), (0, 0, 255))
    image.paste((255, 0, 0), (400, 0, 800, 400))  # red centre third, blue sides
    config = PipelineConfig(thumbnails=(ThumbnailSpec("sq", 100, 100, "crop"),))
    thumb = decode(optimize(png_bytes(image), config).renditions[1].data)
    assert thumb.size == (100, 100)
    red = np.asarray(thumb)[:, :, 0]
    assert red.min() > 200  # only the red centre survived the crop


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_an_upright_image(fmt: str, orientation: int) -> None:
    upright = gradient(300, 200)
    data = with_orientation(stored_as(upright, orientation), orientation, fmt)
    # The crop needs the working image's pixels (not the main's): both resampling paths are checked.
    config = PipelineConfig(max_width=300, thumbnails=(ThumbnailSpec("sq", 160, 160, "crop"),))
    result = optimize(data, config)
    out = decode(result.main.data)
    assert out.size == (300, 200)
    assert mean_abs_diff(out, upright) < 6
    assert out.getexif().get(0x0112) is None
    square = decode(result.renditions[1].data)
    assert square.size == (160, 160)
    assert mean_abs_diff(square, upright.crop((50, 0, 250, 200)).resize((160, 160), Image.Resampling.LANCZOS)) < 6


def test_alpha_is_flattened_onto_the_background_without_dark_fringes() -> None:
    # A white disc on transparent *black*, flattened onto white: the right answer is white everywhere.
    # Resampling non-premultiplied pixels, or flattening after resizing wrongly, leaves a gray ring.
    image = Image.new("RGBA", (1600, 1600), (0, 0, 0, 0))
    disc = Image.new("L", (1600, 1600), 0)
    from PIL import ImageDraw

    ImageDraw.Draw(disc).ellipse((200, 200, 1400, 1400), fill=255)
    image.paste((255, 255, 255, 255), mask=disc)
    for rendition in optimize(png_bytes(image)).renditions:
        out = np.asarray(decode(rendition.data).convert("RGB")).astype(int)
        assert out.min() >= 250, rendition.name


def test_background_color_setting_is_used() -> None:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    config = PipelineConfig(background=(0, 128, 255), thumbnails=())
    pixel = decode(optimize(png_bytes(image), config).main.data).convert("RGB").getpixel((32, 32))
    assert pixel == pytest.approx((0, 128, 255), abs=4)


def test_palette_transparency_counts_as_transparency() -> None:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 32, 64))
    data = png_bytes(image, transparency=0)
    out = decode(optimize(data, PipelineConfig(thumbnails=())).main.data).convert("RGB")
    assert out.getpixel((50, 32)) == pytest.approx((255, 255, 255), abs=4)  # transparent black -> white
    assert out.getpixel((10, 32)) == pytest.approx((255, 0, 0), abs=6)


def test_sixteen_bit_gray_is_scaled_not_clipped_and_stays_gray() -> None:
    ramp = (np.tile(np.linspace(0, 65535, 256), (64, 1))).astype(np.uint16)
    data = png_bytes(Image.fromarray(ramp))
    out = decode(optimize(data, PipelineConfig(thumbnails=())).main.data)
    assert out.mode == "L"
    row = np.asarray(out)[32].astype(int)
    assert row[0] < 5 and row[-1] > 250
    assert np.all(np.diff(row[::16]) > 0)  # monotonic: no wrap-around, no flat clipped top


def test_a_sixteen_bit_gray_colour_key_is_transparency() -> None:
    image = Image.new("I;16", (64, 32), 0)
    image.paste(Image.new("I;16", (32, 32), 40000), (32, 0))  # left: the key, transparent; right: opaque
    out = decode(optimize(png_bytes(image, transparency=0), PipelineConfig(thumbnails=())).main.data)
    assert out.mode == "L"
    assert out.getpixel((8, 16)) > 250  # flattened onto the white background, not black
    assert abs(out.getpixel((56, 16)) - 40000 // 257) <= 2


def test_grayscale_jpeg_stays_single_channel() -> None:
    out = decode(optimize(jpeg_bytes(gradient(400, 300).convert("L"))).main.data)
    assert out.mode == "L"


def test_outputs_carry_no_metadata() -> None:
    source = gradient(1000, 800)
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS IFD
    exif[0x0112] = 1
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = jpeg_bytes(source, exif=exif.tobytes(), comment=b"secret comment", icc_profile=srgb)
    assert metadata_markers(data)  # the input really carries them
    for rendition in optimize(data).renditions:
        assert metadata_markers(rendition.data) == []
        assert not decode(rendition.data).getexif()


def test_tiny_and_extreme_inputs_give_at_least_one_pixel() -> None:
    for size in [(1, 1), (1, 1000), (16, 17000), (1000, 1)]:
        result = optimize(png_bytes(Image.new("RGB", size, (10, 200, 10))))
        for rendition in result.renditions:
            assert rendition.width >= 1 and rendition.height >= 1
            assert decode(rendition.data).size == (rendition.width, rendition.height)


@pytest.mark.parametrize(
    ("extra", "height", "side"),
    [
        pytest.param((), 70_000, 65_500, id="jpeg-capped"),
        pytest.param(("webp",), 20_000, 16_383, id="webp-capped"),
        pytest.param(("avif",), 20_000, 20_000, id="avif-not-capped-at-webp-limit"),
    ],
)
def test_a_main_taller_than_its_formats_allow_is_scaled_to_fit(extra: tuple[str, ...], height: int, side: int) -> None:
    # JPEG holds 65,500 px a side, WebP 16,383: without MAX_HEIGHT a 70,000 px strip would fail every encode
    result = optimize(png_bytes(Image.new("RGB", (4, height), (200, 10, 10))), PipelineConfig(extra_formats=extra))
    mains = [rendition for rendition in result.renditions if rendition.name == "main"]
    assert [(main.format, main.height) for main in mains] == [("jpeg", side), *((fmt, side) for fmt in extra)]
    assert decode(mains[0].data).size == (mains[0].width, side)


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", UnsupportedFormat, "empty"),
        (b"hello, this is not an image\n", UnsupportedFormat, "text"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", UnsupportedFormat, "HTML"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', UnsupportedFormat, "SVG"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", UnsupportedFormat, "PDF"),
        (b"8BPS\x00\x01" + bytes(40), UnsupportedFormat, "PSD"),
        (b"\x89PNG\r\n\x1a\n" + bytes(30), CorruptImage, "corrupt PNG"),
        (b"\xff\xd8\xff\xe0" + bytes(100), CorruptImage, "corrupt JPEG"),
    ],
)
def test_non_images_are_rejected_with_one_clear_line(data: bytes, error: type[ImageRejected], words: str) -> None:
    with pytest.raises(error) as caught:
        optimize(data)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_truncated_jpeg_is_rejected_not_half_decoded() -> None:
    data = jpeg_bytes(gradient(800, 600), quality=95)
    with pytest.raises(TruncatedImage, match="truncated JPEG"):
        optimize(data[: len(data) // 2])


def test_pixel_limit_is_checked_from_the_header_and_names_the_limit() -> None:
    data = png_bytes(Image.new("1", (5000, 5000)))
    with pytest.raises(ImageTooLarge, match="MAX_PIXELS=1000000"):
        optimize(data, PipelineConfig(max_pixels=1_000_000))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_region_maps_to_the_same_pixels_in_stored_orientation(orientation: int) -> None:
    from image_optimizer.imaging.layout import box_to_stored, orient

    upright = gradient(30, 20)
    upright.putpixel((3, 4), (0, 255, 0))
    stored = stored_as(upright, orientation)
    box = (2, 3, 17, 11)  # deliberately off-centre
    mapped = tuple(int(v) for v in box_to_stored(box, upright.size, orientation))
    assert np.array_equal(np.asarray(orient(stored.crop(mapped), orientation)), np.asarray(upright.crop(box)))


def test_crop_boxes_stay_inside_the_image_for_every_size() -> None:
    # Floating point once put the box a hair outside (247 px: 150 / (150/247) = 247.00000000000003).
    from image_optimizer.imaging.layout import crop_plan

    for width in range(225, 700, 3):
        for height in (width, width * 2 // 3, width * 3 // 2):
            (left, top, right, bottom), size = crop_plan(width, height, 150, 150)
            assert 0 <= left <= right <= width and 0 <= top <= bottom <= height, (width, height)
            assert size == (150, 150)


@pytest.mark.parametrize(("fmt", "width", "shift"), [("PNG", 7501, 0.48), ("JPEG", 2401, 0.30), ("JPEG", 3003, 0.57)])
def test_reduced_working_images_map_exactly_onto_the_source(
    fmt: str, width: int, shift: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """reduce() (PNG: by 6) and DCT scaling (JPEG 2401 px: 1/2, 3003 px: 3/8) round the size up with a partial last
    block: a feature near the right edge must land where it is in the source, not stretched by the rounding by
    `shift` output pixels."""
    band = (round(width * 0.973), round(width * 0.973) + width // 300)
    image = Image.new("L", (width, 1500), 255)
    image.paste(0, (band[0], 0, band[1], 1500))
    data = png_bytes(image) if fmt == "PNG" else jpeg_bytes(image, quality=100, subsampling=0)

    def centroid() -> float:
        main = np.asarray(Image.open(io.BytesIO(optimize(data).main.data)).convert("L"), dtype=float)[3]
        darkness = 255 - main
        return float((darkness * np.arange(main.size)).sum() / darkness.sum())

    expected = (band[0] + band[1]) / 2 * 750 / width - 0.5  # index of the output pixel whose centre that is
    assert abs(centroid() - expected) < shift / 3

    from image_optimizer.imaging import pipeline

    monkeypatch.setattr(
        pipeline, "working_scale", lambda image, stored, divisor: (image.width / stored[0], image.height / stored[1])
    )
    assert abs(centroid() - expected) > shift * 2 / 3  # the old ratio mapping: this test sees the difference


@pytest.mark.parametrize(
    ("width", "needed", "reduction", "decoded_width"),
    [
        (3003, 0.12, (1, 8), 376),
        (3003, 0.2, (1, 4), 751),
        (3003, 0.26, (3, 8), 1127),
        (3003, 0.30, (3, 8), 1127),
        (3003, 0.39, (1, 2), 1502),
    ],
)
def test_jpeg_decodes_at_the_smallest_dct_scale_that_covers_the_renditions(
    width: int, needed: float, reduction: tuple[int, int], decoded_width: int
) -> None:
    """1/8, 1/4, 3/8 (libjpeg-turbo, beyond Pillow's draft()), 1/2: the decoded pixels are where the scale puts
    them (the same as the full decode box-reduced), at ceil(scale x size)."""
    from image_optimizer.imaging import decode as decoding
    from image_optimizer.imaging.pipeline import draft

    source = gradient(width, 1501)
    data = jpeg_bytes(source, quality=95, subsampling=0)
    decoded = decoding.open_image(data, max_pixels=10**8)
    assert draft(decoded.image, needed) == reduction
    numerator, denominator = reduction
    image = decoding.load(decoded).convert("RGB")
    assert image.size == (decoded_width, math.ceil(1501 * numerator / denominator))
    whole = (width * numerator // denominator, 1501 * numerator // denominator)  # no partial block in them
    box = (0.0, 0.0, whole[0] * denominator / numerator, whole[1] * denominator / numerator)
    expected = decode(data).convert("RGB").resize(whole, Image.Resampling.BOX, box=box)
    assert mean_abs_diff(image.crop((0, 0, *whole)), expected) < 2


def test_without_libjpeg_turbo_three_eighths_falls_back_to_a_half(monkeypatch: pytest.MonkeyPatch) -> None:
    from image_optimizer.imaging import decode as decoding
    from image_optimizer.imaging.pipeline import draft

    monkeypatch.setattr(decoding, "_libjpeg_turbo", lambda: False)
    decoded = decoding.open_image(jpeg_bytes(gradient(3003, 1501)), max_pixels=10**8)
    assert draft(decoded.image, 0.3) == (1, 2)
    assert decoding.load(decoded).size == (1502, 751)


def test_extra_formats_follow_the_jpegs_at_the_same_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, bool]] = []

    def recording(image: Image.Image, fmt: str, *, thumbnail: bool) -> bytes:
        calls.append((fmt, thumbnail))
        return encode.encode_extra(image, fmt, thumbnail=thumbnail)

    monkeypatch.setattr(pipeline, "encode_extra", recording)
    config = PipelineConfig(extra_formats=("webp", "avif"))
    result = optimize(jpeg_bytes(gradient(1600, 1000)), config)
    # the main image's sibling at the main quality, the thumbnails' at the thumbnail quality
    assert calls == [("webp", False), ("webp", True), ("webp", True), ("avif", False), ("avif", True), ("avif", True)]
    jpegs = [(r.name, r.width, r.height) for r in result.renditions if r.format == "jpeg"]
    assert [r.format for r in result.renditions] == ["jpeg"] * 3 + ["webp"] * 3 + ["avif"] * 3
    for fmt in ("webp", "avif"):
        siblings = [r for r in result.renditions if r.format == fmt]
        assert [(r.name, r.width, r.height) for r in siblings] == jpegs
        for sibling in siblings:
            assert Image.open(io.BytesIO(sibling.data)).size == (sibling.width, sibling.height)
    assert result.main.format == "jpeg"


def test_thumbnails_take_steps_below_the_main_quality_without_adaptive_quantization(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options: list[encode.JpegOptions] = []

    def recording(image: Image.Image, **arguments: Any) -> tuple[bytes, int]:
        options.append(arguments["options"])
        return encode.encode_jpeg(image, **arguments)

    monkeypatch.setattr(pipeline, "encode_jpeg", recording)
    result = optimize(jpeg_bytes(gradient(1600, 1000)))
    main, *thumbnails = [rendition.quality for rendition in result.renditions]
    assert main is not None and thumbnails == [main - encode.THUMBNAIL_QUALITY_STEPS] * 2
    assert [o.adaptive for o in options] == [True, False, False]  # main, thumb, small
    assert options == [encode.MAIN_JPEG, encode.THUMBNAIL_JPEG, encode.THUMBNAIL_JPEG]
    assert start_of_frame(result) == [[0xC2]] * 3  # jpegli writes every rendition progressive (SOF2)
    # a fixed quality is fixed for all; libjpeg-turbo (the fallback, grayscale) keeps its one quality too
    fixed = optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(quality=70))
    assert {rendition.quality for rendition in fixed.renditions} == {70}
    pillow = optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(encoder="pillow", quality_target=80))
    assert {rendition.quality for rendition in pillow.renditions} == {80}
    assert start_of_frame(pillow) == [[0xC2], [0xC0], [0xC0]]  # libjpeg-turbo keeps the seed's baseline thumbnails
    gray = optimize(jpeg_bytes(gradient(1600, 1000).convert("L")))
    assert {rendition.quality for rendition in gray.renditions} == {85}


def start_of_frame(result: pipeline.OptimizedImage) -> list[list[int]]:
    """Each rendition's start-of-frame markers: 0xC0 baseline, 0xC2 progressive."""
    return [[marker for marker, _ in segments(r.data) if marker in (0xC0, 0xC1, 0xC2)] for r in result.renditions]


def record_resize_sources(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[int, int]]:
    """Rendition name -> the size of the picture it is resampled from, filled as the pipeline runs."""
    sources: dict[str, tuple[int, int]] = {}
    real_resize = pipeline.resize

    def recording(image: Image.Image, plan: Any, scale: Any, reducing_gap: float | None = None) -> Image.Image:
        sources[plan.name] = image.size
        return real_resize(image, plan, scale, reducing_gap)

    monkeypatch.setattr(pipeline, "resize", recording)
    return sources


def test_each_thumbnail_comes_from_the_smallest_finished_picture_that_covers_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Largest first: a `fit` thumbnail larger than the main (a 2x main) from the decoded source, never upscaled
    from the main; a medium one from the main; the smallest from the medium one, which covers it twice over."""
    sources = record_resize_sources(monkeypatch)
    thumbnails = (
        ThumbnailSpec("tiny", 100, 100, "fit"),
        ThumbnailSpec("large", 1500, 1500, "fit"),
        ThumbnailSpec("medium", 300, 300, "fit"),
    )
    result = optimize(png_bytes(gradient(3000, 2000)), PipelineConfig(thumbnails=thumbnails))
    assert [(r.name, r.width) for r in result.renditions] == [
        ("main", 750),
        ("tiny", 100),
        ("large", 1500),
        ("medium", 300),
    ]
    assert sources["main"] == sources["large"] and sources["large"][0] >= 1500  # the working image, not the main
    assert sources["medium"] == (750, 500)  # the main
    assert sources["tiny"] == (300, 200)  # the medium thumbnail
    assert mean_abs_diff(decode(result.renditions[1].data), gradient(3000, 2000).resize((100, 67))) < 3


def test_a_crop_thumbnail_is_never_the_source_of_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only pictures of the whole image serve smaller thumbnails: a 400x400 crop would leave a later 100 px `fit`
    thumbnail with a square piece of a 3:2 picture."""
    sources = record_resize_sources(monkeypatch)
    thumbnails = (ThumbnailSpec("square", 400, 400, "crop"), ThumbnailSpec("tiny", 100, 100, "fit"))
    source = gradient(3000, 2000)
    result = optimize(jpeg_bytes(source, quality=95), PipelineConfig(thumbnails=thumbnails))
    assert sources["tiny"] == (750, 500)  # the main, not the 400x400 crop
    tiny = result.renditions[2]
    assert (tiny.width, tiny.height) == (100, 67)
    assert mean_abs_diff(decode(tiny.data), source.resize((100, 67))) < 3
