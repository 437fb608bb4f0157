"""JPEG encoding: jpegli by default (through its C API), quality chosen per image, Pillow as the fallback;
WebP/AVIF siblings."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from image_optimizer.imaging import encode, jpegli
from image_optimizer.imaging.encode import JpegOptions, choose_quality, encode_extra, encode_jpeg, pillow_jpeg, psnr
from tests.conftest import SAMPLES_DIR, gradient, png_bytes
from tests.jpeg_markers import metadata_markers, segments

SOF_PROGRESSIVE = 0xC2


def photo_like(width: int = 480, height: int = 320, seed: int = 1, sigma: float = 18) -> Image.Image:
    """Smooth shapes plus fine noise (of standard deviation `sigma`): an image a JPEG encoder has to work on."""
    rng = np.random.default_rng(seed)
    base = np.asarray(gradient(width, height), dtype=float)
    noise = rng.normal(0, sigma, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def flat(width: int = 200, height: int = 100) -> Image.Image:
    return Image.new("RGB", (width, height), (120, 160, 200))


def pyjpegli_encode(image: Image.Image, quality: int) -> bytes:
    import pyjpegli

    return bytes(pyjpegli.encode(image.tobytes(), image.width, image.height, quality=quality))


@pytest.fixture
def without_jpegli(monkeypatch: pytest.MonkeyPatch):
    """As on a machine where pyjpegli cannot be imported."""
    monkeypatch.setitem(sys.modules, "pyjpegli", None)
    jpegli.load.cache_clear()
    yield
    jpegli.load.cache_clear()


def test_jpegli_is_the_default_encoder() -> None:
    assert encode.jpegli() is not None
    assert encode.jpeg_encoder("auto") == "jpegli"
    assert encode.jpeg_encoder("pillow") == "pillow"


def test_default_output_is_progressive_jpegli_without_metadata() -> None:
    image = photo_like()
    data = encode_jpeg(image, quality=None, target=85, encoder="auto", options=JpegOptions(progressive=False))[0]
    markers = [marker for marker, _ in segments(data)]
    assert SOF_PROGRESSIVE in markers
    assert metadata_markers(data) == []
    decoded = Image.open(io.BytesIO(data))
    assert decoded.size == image.size and decoded.mode == "RGB"
    assert data != pillow_jpeg(image, 85, progressive=True)


@pytest.mark.parametrize(("width", "height", "quality"), [(1, 1, 85), (17, 9, 40), (480, 320, 85), (753, 501, 95)])
def test_the_binding_writes_exactly_what_pyjpegli_writes(width: int, height: int, quality: int) -> None:
    """The ctypes layout of jpeg_compress_struct is right: baseline output is pyjpegli's, byte for byte."""
    image = photo_like(width, height)
    library = jpegli.load()
    assert library is not None
    produced = library.encode(image.tobytes(), width, height, quality=quality, progressive=False)
    assert produced == pyjpegli_encode(image, quality)


def test_progressive_is_smaller_with_the_same_pixels() -> None:
    image = photo_like()
    library = jpegli.load()
    assert library is not None
    baseline = library.encode(image.tobytes(), image.width, image.height, quality=85, progressive=False)
    progressive = library.encode(image.tobytes(), image.width, image.height, quality=85, progressive=True)
    assert SOF_PROGRESSIVE in [marker for marker, _ in segments(progressive)]
    assert len(progressive) < len(baseline)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(progressive))), np.asarray(Image.open(io.BytesIO(baseline))))


@pytest.mark.parametrize("encoder", ["auto", "pillow"])
def test_chroma_is_4_2_0_unless_asked_for_4_4_4(encoder: str) -> None:
    """Sampling factors (component id, horizontal, vertical, table) as the decoder reads them back."""
    image = photo_like()
    chroma = [(2, 1, 1, 1), (3, 1, 1, 1)]
    default, _ = encode_jpeg(image, quality=85, target=85, encoder=encoder)
    full, _ = encode_jpeg(image, quality=85, target=85, encoder=encoder, options=JpegOptions(subsampled=False))
    assert Image.open(io.BytesIO(default)).layer == [(1, 2, 2, 0), *chroma]
    assert Image.open(io.BytesIO(full)).layer == [(1, 1, 1, 0), *chroma]
    # the colour survives sharper: chroma error at full resolution drops
    assert psnr(image, full) > psnr(image, default)


def test_the_binding_refuses_what_would_end_the_process() -> None:
    library = jpegli.load()
    assert library is not None
    with pytest.raises(ValueError, match="70000x10"):
        library.encode(bytes(70000 * 10 * 3), 70000, 10, quality=85, progressive=False)
    with pytest.raises(ValueError, match="RGB"):
        library.encode(b"\0" * 10, 4, 4, quality=85, progressive=False)


def test_an_unknown_pyjpegli_version_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda name: "9.9.9")
    jpegli.load.cache_clear()
    try:
        assert jpegli.load() is None
        assert encode.jpeg_encoder("auto") == "pillow"
    finally:
        jpegli.load.cache_clear()


def test_adaptive_quantization_can_be_turned_off() -> None:
    """Thumbnails go without jpegli's adaptive quantization: uniform quantization, closer to the pixels."""
    image = photo_like()
    library = jpegli.load()
    assert library is not None
    uniform, _ = encode_jpeg(image, quality=80, target=85, encoder="auto", options=JpegOptions(adaptive=False))
    assert uniform == library.encode(
        image.tobytes(), image.width, image.height, quality=80, progressive=True, adaptive=False
    )
    adaptive, _ = encode_jpeg(image, quality=80, target=85, encoder="auto")
    assert uniform != adaptive
    assert psnr(image, uniform) > psnr(image, adaptive)


def test_fixed_quality_overrides_the_search() -> None:
    image = photo_like()
    library = jpegli.load()
    assert library is not None
    expected = library.encode(image.tobytes(), image.width, image.height, quality=70, progressive=True)
    assert encode_jpeg(image, quality=70, target=85, encoder="auto", options=JpegOptions(progressive=False)) == (
        expected,
        70,
    )


def test_chosen_quality_is_the_lowest_that_keeps_within_the_slack() -> None:
    image = photo_like()
    sample = encode.row_sample(image)
    assert sample.height < image.height  # measured on the sample
    goal = search_goal(sample)
    tried: list[int] = []

    def recording(picture: Image.Image, quality: int) -> bytes:
        assert picture.size == sample.size  # probes encode the sample, not the whole image
        tried.append(quality)
        return pyjpegli_encode(picture, quality)

    chosen = choose_quality(image, recording, 85)
    assert len(tried) <= encode.MAX_PROBES
    found = chosen + 1 if bits_per_pixel(sample, 85) > encode.HEAVY_BITS_PER_PIXEL else chosen
    assert psnr(sample, pyjpegli_encode(sample, found)) >= goal
    assert found == 85 - encode.QUALITY_BELOW_TARGET or psnr(sample, pyjpegli_encode(sample, found - 1)) < goal


def bits_per_pixel(image: Image.Image, quality: int) -> float:
    return 8 * len(pyjpegli_encode(image, quality)) / (image.width * image.height)


@pytest.mark.parametrize("noise, heavy", [(18, True), (2, False)])
def test_heavy_images_take_one_step_below_what_the_search_finds(
    noise: float, heavy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = photo_like(seed=3, sigma=noise)
    assert (bits_per_pixel(encode.row_sample(image), 85) > encode.HEAVY_BITS_PER_PIXEL) is heavy
    chosen = choose_quality(image, pyjpegli_encode, 85)
    monkeypatch.setattr(encode, "HEAVY_BITS_PER_PIXEL", float("inf"))
    assert chosen == choose_quality(image, pyjpegli_encode, 85) - heavy


@pytest.mark.parametrize("height, stride", [(300, 2), (500, 2), (1000, 4), (1125, 4)])
def test_the_sample_keeps_bands_on_the_block_grid_from_top_to_bottom(height: int, stride: int) -> None:
    """Every other band for a landscape main (750x500), one in four for a portrait one (750x1000): about
    SAMPLE_ROWS rows either way."""
    image = photo_like(64, height)
    sample = encode.row_sample(image)
    band = encode.SAMPLE_BAND
    assert band % 16 == 0  # whole 4:2:0 MCU rows: the sample's blocks are the image's blocks
    tops = range(0, image.height - band + 1, stride * band)
    assert sample.size == (64, len(tops) * band)
    assert tops[-1] + band > height - stride * band  # down to the bottom
    for index, top in enumerate(tops):
        assert (
            sample.crop((0, index * band, 64, (index + 1) * band)).tobytes()
            == image.crop((0, top, 64, top + band)).tobytes()
        )


def test_an_image_with_too_few_bands_is_measured_whole() -> None:
    small = photo_like(64, 200)
    assert encode.row_sample(small) is small


@pytest.mark.parametrize("db_per_step, answer", [(0.8, 91), (0.12, 89), (0.3, 84)])
def test_the_search_follows_the_margins_to_the_lowest_passing_quality(
    db_per_step: float, answer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoder whose PSNR rises `db_per_step` per quality step and first reaches the goal at `answer`, whatever
    DB_PER_STEP guesses: the search finds exactly that quality within MAX_PROBES (halving the interval after the
    first step ran out of probes at 92 in the first case)."""
    monkeypatch.setattr(encode, "HEAVY_BITS_PER_PIXEL", float("inf"))
    image = photo_like()
    sample = encode.row_sample(image)
    goal = search_goal(sample)
    noise = Image.effect_noise(sample.size, 80).convert("RGB")
    error_db = psnr(sample, png_bytes(noise))  # PSNR of the whole difference

    def mixed(picture: Image.Image, quality: int) -> Image.Image:
        # the error scales with the blend weight: PSNR is error_db - 20 log10(weight), linear in quality
        weight = 10 ** ((error_db - goal - (quality - answer + 0.5) * db_per_step) / 20)
        return Image.blend(picture, noise, weight)  # probes encode the sample, the noise's size

    assert choose_quality(image, lambda picture, quality: png_bytes(mixed(picture, quality)), 85) == answer
    assert psnr(sample, png_bytes(mixed(sample, answer))) >= goal > psnr(sample, png_bytes(mixed(sample, answer - 1)))


def search_goal(sample: Image.Image, target: int = 85) -> float:
    """The PSNR the search asks of a quality: libjpeg-turbo's at `target` on the same pixels, less the slack."""
    return psnr(sample, pillow_jpeg(sample, target, progressive=False, optimize=False)) - encode.QUALITY_SLACK_DB


def test_a_higher_target_gives_a_higher_quality() -> None:
    image = photo_like()
    sizes = [
        len(encode_jpeg(image, quality=None, target=t, encoder="auto", options=JpegOptions(progressive=False))[0])
        for t in (70, 85, 92)
    ]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3


def test_easy_and_hard_images_get_different_qualities() -> None:
    """The point of choosing per image: a noisy picture and a smooth one do not land on the same quality."""
    qualities = []
    for name in ("kodim03.png", "landscape_exif6.jpg"):
        image = Image.open(SAMPLES_DIR / name).convert("RGB")
        image = image.resize((480, round(image.height * 480 / image.width)), Image.Resampling.LANCZOS)
        qualities.append(choose_quality(image, pyjpegli_encode, 85))
    assert qualities[0] != qualities[1]


def test_flat_image_terminates_and_decodes() -> None:
    data = encode_jpeg(flat(), quality=None, target=85, encoder="auto")[0]
    assert Image.open(io.BytesIO(data)).getpixel((10, 10)) == pytest.approx((120, 160, 200), abs=3)


def test_pillow_encoder_setting_gives_libjpeg_turbo_output() -> None:
    image = photo_like()
    assert encode_jpeg(image, quality=None, target=80, encoder="pillow") == (
        pillow_jpeg(image, 80, progressive=True),
        80,
    )


def test_grayscale_goes_through_pillow_and_stays_one_channel() -> None:
    image = photo_like().convert("L")
    data = encode_jpeg(image, quality=None, target=85, encoder="auto")[0]
    assert data == pillow_jpeg(image, 85, progressive=True)
    assert Image.open(io.BytesIO(data)).mode == "L"


@pytest.mark.usefixtures("without_jpegli")
def test_without_jpegli_pillow_encodes_at_the_target_quality() -> None:
    assert encode.jpegli() is None
    assert encode.jpeg_encoder("auto") == "pillow"
    image = photo_like()
    assert encode_jpeg(image, quality=None, target=85, encoder="auto")[0] == pillow_jpeg(image, 85, progressive=True)
    assert encode_jpeg(image, quality=60, target=85, encoder="auto", options=JpegOptions(progressive=False))[
        0
    ] == pillow_jpeg(image, 60, progressive=False)


def test_jpegli_refusing_an_image_falls_back_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("jpegli: cannot encode")

    class Refusing:
        encode = staticmethod(refuse)

    monkeypatch.setattr(encode, "jpegli", lambda: Refusing())
    image = photo_like()
    assert encode_jpeg(image, quality=None, target=85, encoder="auto")[0] == pillow_jpeg(image, 85, progressive=True)


def test_other_modes_are_refused() -> None:
    from image_optimizer.errors import CorruptImage

    with pytest.raises(CorruptImage, match="RGBA"):
        encode_jpeg(Image.new("RGBA", (8, 8)), quality=None, target=85, encoder="auto")


@pytest.mark.parametrize(("fmt", "pillow_format"), [("webp", "WEBP"), ("avif", "AVIF")])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_extra_formats_decode_at_the_same_size_without_metadata(fmt: str, pillow_format: str, mode: str) -> None:
    image = photo_like(160, 96).convert(mode)
    data = encode_extra(image, fmt)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == pillow_format
    assert decoded.size == image.size
    assert not decoded.info.get("exif") and not decoded.info.get("icc_profile") and not decoded.info.get("xmp")
    reference = np.asarray(image.convert("RGB"), float)
    assert np.abs(np.asarray(decoded.convert("RGB"), float) - reference).mean() < 20


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_extra_format_thumbnails_take_their_own_quality(fmt: str) -> None:
    image = photo_like(160, 96)
    buffer = io.BytesIO()
    options = {"speed": encode.AVIF_SPEED} if fmt == "avif" else {"method": 4}
    image.save(buffer, fmt.upper(), quality=encode.EXTRA_THUMBNAIL_QUALITY[fmt], **options)
    assert encode.EXTRA_THUMBNAIL_QUALITY[fmt] != encode.EXTRA_QUALITY[fmt]
    assert encode_extra(image, fmt, thumbnail=True) == buffer.getvalue()
    assert encode_extra(image, fmt) != buffer.getvalue()
