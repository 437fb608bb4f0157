"""JPEG encoding: jpegli + mozjpeg by default, quality chosen per image, Pillow as the fallback; WebP/AVIF siblings."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from image_optimizer import encode
from image_optimizer.encode import Jpegli, choose_quality, encode_extra, encode_jpeg, pillow_jpeg, psnr
from tests.conftest import gradient
from tests.jpeg_markers import metadata_markers, segments

SOF_PROGRESSIVE = 0xC2
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def photo_like(width: int = 480, height: int = 320, seed: int = 1) -> Image.Image:
    """Smooth shapes plus fine noise: an image a JPEG encoder has to work on."""
    rng = np.random.default_rng(seed)
    base = np.asarray(gradient(width, height), dtype=float)
    noise = rng.normal(0, 18, (height, width, 3))
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
    encode.jpegli.cache_clear()
    yield
    encode.jpegli.cache_clear()


def test_jpegli_and_mozjpeg_are_the_default_encoder() -> None:
    assert encode.jpegli() is not None
    assert encode.jpeg_encoder("auto") == "jpegli"
    assert encode.jpeg_encoder("pillow") == "pillow"


def test_default_output_is_jpegli_made_progressive_by_mozjpeg_without_metadata() -> None:
    image = photo_like()
    data = encode_jpeg(image, quality=None, target=85, encoder="auto", progressive=False)[0]
    markers = [marker for marker, _ in segments(data)]
    assert SOF_PROGRESSIVE in markers  # jpegli alone writes baseline: the lossless pass ran
    assert metadata_markers(data) == []
    decoded = Image.open(io.BytesIO(data))
    assert decoded.size == image.size and decoded.mode == "RGB"
    assert data != pillow_jpeg(image, 85, progressive=True)


def test_mozjpeg_pass_is_lossless_and_smaller() -> None:
    image = photo_like()
    baseline = pyjpegli_encode(image, 85)
    data = encode_jpeg(image, quality=85, target=85, encoder="auto", progressive=False)[0]
    assert len(data) < len(baseline)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(Image.open(io.BytesIO(baseline))))


def test_fixed_quality_overrides_the_search() -> None:
    image = photo_like()
    library = encode.jpegli()
    assert library is not None
    expected = library.optimize(pyjpegli_encode(image, 70))
    assert encode_jpeg(image, quality=70, target=85, encoder="auto", progressive=True)[0] == expected


def test_chosen_quality_is_the_lowest_that_keeps_within_the_slack() -> None:
    image = photo_like()
    goal = psnr(image, pillow_jpeg(image, 85, progressive=False, optimize=False)) - encode.QUALITY_SLACK_DB
    tried: list[int] = []

    def recording(quality: int) -> bytes:
        tried.append(quality)
        return pyjpegli_encode(image, quality)

    data, chosen = choose_quality(image, recording, 85)
    assert data == pyjpegli_encode(image, chosen)
    assert len(tried) <= encode.MAX_PROBES
    assert psnr(image, pyjpegli_encode(image, chosen)) >= goal
    assert chosen == 85 - encode.QUALITY_BELOW_TARGET or psnr(image, pyjpegli_encode(image, chosen - 1)) < goal


def test_a_higher_target_gives_a_higher_quality() -> None:
    image = photo_like()
    sizes = [
        len(encode_jpeg(image, quality=None, target=t, encoder="auto", progressive=False)[0]) for t in (70, 85, 92)
    ]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3


def test_easy_and_hard_images_get_different_qualities() -> None:
    """The point of choosing per image: a noisy picture and a smooth one do not land on the same quality."""
    qualities = []
    for name in ("kodim03.png", "landscape_exif6.jpg"):
        image = Image.open(SAMPLES / name).convert("RGB")
        image = image.resize((480, round(image.height * 480 / image.width)), Image.Resampling.LANCZOS)
        qualities.append(choose_quality(image, lambda q, image=image: pyjpegli_encode(image, q), 85)[1])
    assert qualities[0] != qualities[1]


def test_flat_image_terminates_and_decodes() -> None:
    data = encode_jpeg(flat(), quality=None, target=85, encoder="auto", progressive=True)[0]
    assert Image.open(io.BytesIO(data)).getpixel((10, 10)) == pytest.approx((120, 160, 200), abs=3)


def test_pillow_encoder_setting_gives_libjpeg_turbo_output() -> None:
    image = photo_like()
    assert encode_jpeg(image, quality=None, target=80, encoder="pillow", progressive=True) == (
        pillow_jpeg(image, 80, progressive=True),
        80,
    )


def test_grayscale_goes_through_pillow_and_stays_one_channel() -> None:
    image = photo_like().convert("L")
    data = encode_jpeg(image, quality=None, target=85, encoder="auto", progressive=True)[0]
    assert data == pillow_jpeg(image, 85, progressive=True)
    assert Image.open(io.BytesIO(data)).mode == "L"


@pytest.mark.usefixtures("without_jpegli")
def test_without_jpegli_pillow_encodes_at_the_target_quality() -> None:
    assert encode.jpegli() is None
    assert encode.jpeg_encoder("auto") == "pillow"
    image = photo_like()
    assert encode_jpeg(image, quality=None, target=85, encoder="auto", progressive=True)[0] == pillow_jpeg(
        image, 85, progressive=True
    )
    assert encode_jpeg(image, quality=60, target=85, encoder="auto", progressive=False)[0] == pillow_jpeg(
        image, 60, progressive=False
    )


def test_jpegli_refusing_an_image_falls_back_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("jpegli: cannot encode")

    monkeypatch.setattr(encode, "jpegli", lambda: Jpegli(refuse, lambda data: data))
    image = photo_like()
    assert encode_jpeg(image, quality=None, target=85, encoder="auto", progressive=True)[0] == pillow_jpeg(
        image, 85, progressive=True
    )


def test_other_modes_are_refused() -> None:
    from image_optimizer.errors import CorruptImage

    with pytest.raises(CorruptImage, match="RGBA"):
        encode_jpeg(Image.new("RGBA", (8, 8)), quality=None, target=85, encoder="auto", progressive=True)


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
