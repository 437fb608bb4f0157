"""Colour management on generated patches (no corpus needed): wide-gamut profiles land on sRGB."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageCms

from image_optimizer.errors import CorruptImage, ImageTooLarge, TruncatedImage
from image_optimizer.imaging.pipeline import optimize
from image_optimizer.specs import PipelineConfig
from tests.colour import mean_delta_e
from tests.conftest import FIXTURES_DIR, ROOT, png_bytes

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# In-gamut, mid-saturation colours: where reading the pixels as sRGB would visibly shift them.
PATCH_COLOURS = [
    (180, 60, 60),
    (60, 170, 70),
    (60, 70, 180),
    (200, 190, 70),
    (70, 180, 190),
    (200, 110, 60),
    (120, 60, 150),
    (128, 128, 128),
]


def patch_chart() -> Image.Image:
    """Eight flat 64x64 colour patches in a row: JPEG keeps flat colour nearly exact."""
    chart = Image.new("RGB", (64 * len(PATCH_COLOURS), 64))
    for index, colour in enumerate(PATCH_COLOURS):
        chart.paste(colour, (64 * index, 0, 64 * (index + 1), 64))
    return chart


def patch_means(image: Image.Image) -> Image.Image:
    """One pixel per patch (the centre 32x32 average), so only colour is compared."""
    return Image.merge(
        "RGB",
        [
            Image.fromarray(
                np.array(
                    [[np.asarray(band)[16:48, 64 * i + 16 : 64 * i + 48].mean() for i in range(len(PATCH_COLOURS))]]
                )
                .round()
                .astype(np.uint8)
            )
            for band in image.convert("RGB").split()
        ],
    )


@pytest.mark.parametrize("profile", ["AdobeRGB1998.icc", "ProPhotoRGB.icc"])
def test_wide_gamut_patches_convert_to_srgb(profile: str) -> None:
    icc = (FIXTURES_DIR / profile).read_bytes()
    chart = patch_chart()
    buffer = io.BytesIO()
    chart.save(buffer, "PNG", icc_profile=icc)
    config = PipelineConfig(max_width=10_000, thumbnails=())
    out = Image.open(io.BytesIO(optimize(buffer.getvalue(), config).main.data))
    reference = ImageCms.profileToProfile(
        chart, ImageCms.ImageCmsProfile(io.BytesIO(icc)), SRGB, renderingIntent=ImageCms.Intent.PERCEPTUAL
    )
    assert reference is not None
    assert mean_delta_e(patch_means(out), patch_means(reference)) < 1.0
    # Read as if untagged, the same patches are far off: the check above can fail.
    assert mean_delta_e(patch_means(chart), patch_means(reference)) > 4


def test_a_profile_is_judged_by_what_it_does_not_by_its_name() -> None:
    # ProPhoto RGB renamed "sRGB ProPhoto" (same length, UTF-16): converted exactly as under its own name
    icc = (FIXTURES_DIR / "ProPhotoRGB.icc").read_bytes()
    renamed = icc.replace("ProPhoto RGB".encode("utf-16-be"), "sRGB ProPhoto".encode("utf-16-be")[:24])
    assert (
        renamed != icc
        and "srgb" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(renamed))).lower()
    )
    config = PipelineConfig(max_width=10_000, thumbnails=())

    def main_tagged(profile: bytes) -> bytes:
        return optimize(png_bytes(patch_chart(), icc_profile=profile), config).main.data

    assert main_tagged(renamed) == main_tagged(icc)


def test_display_p3_png_fixture_is_converted() -> None:
    data = (FIXTURES_DIR / "icc_displayp3_8x8_rgba.png").read_bytes()
    source = Image.open(io.BytesIO(data))
    out = Image.open(io.BytesIO(optimize(data).main.data)).convert("RGB")
    reference = ImageCms.profileToProfile(
        source.convert("RGB"),
        ImageCms.ImageCmsProfile(io.BytesIO(source.info["icc_profile"])),
        SRGB,
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
    )
    assert reference is not None and out.size == (8, 8)
    alpha = np.asarray(source.getchannel("A"))
    assert alpha.min() == 255  # opaque: the reference needs no flattening
    assert mean_delta_e(out, reference) < 3


def test_untagged_cmyk_uses_the_bundled_press_profile() -> None:
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 255, 0))  # process red
    buffer = io.BytesIO()
    cmyk.save(buffer, "JPEG", quality=95)
    out = Image.open(io.BytesIO(optimize(buffer.getvalue()).main.data)).convert("RGB")
    naive = Image.new("RGB", out.size, (255, 0, 0))  # what the plain device formula gives for C=0 M=Y=100% K=0
    r, g, b = np.asarray(out).reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60, (r, g, b)  # still a red
    assert mean_delta_e(out, naive) > 5  # but the darker red of ink on coated paper


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("truncated_jpeg_pillow.jpg", TruncatedImage),
        ("bomb_gif_65535x66601_44bytes.gif", ImageTooLarge),
        ("corrupt_png_missing_idat_xdtn0g01.png", CorruptImage),
    ],
)
def test_hostile_fixtures_are_rejected(name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        optimize((FIXTURES_DIR / name).read_bytes())


def test_png_orientation_fixture_is_upright() -> None:
    out = optimize((FIXTURES_DIR / "orient_png_exif_6.png").read_bytes())
    assert (out.main.width, out.main.height) == (100, 200)


def test_palette_with_trns_fixture_flattens_to_white_corners() -> None:
    out = Image.open(
        io.BytesIO(optimize((FIXTURES_DIR / "png_palette_trns_tbbn3p08.png").read_bytes()).main.data)
    ).convert("RGB")
    assert out.getpixel((0, 0)) == pytest.approx((255, 255, 255), abs=15)  # JPEG ringing on a 32 px image


WIDE_MODES = [("I;16", "<u2"), ("I;16B", ">u2"), ("I", "<i4"), ("F", "<f4")]


@pytest.mark.parametrize(("mode", "dtype"), WIDE_MODES)
def test_wide_modes_scale_to_8_bits_band_by_band_like_the_whole_image(
    mode: str, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from image_optimizer.imaging import color

    monkeypatch.setattr(color, "WIDE_MODE_BAND_PIXELS", 61 * 100)  # bands of 100 rows
    height = 2 * 100 + 37  # a partial last band
    rng = np.random.default_rng(7)
    if mode == "F":
        values = rng.random((height, 61)) * 1.4 - 0.2  # 0..1, and beyond at both ends
        expected = np.clip(np.trunc(values.astype(np.float32) * 255), 0, 255)
    else:
        top = 65536 if mode != "I" else 200_000  # I: beyond 16 bits too, clipped to white
        values = rng.integers(-1000 if mode == "I" else 0, top, (height, 61))
        expected = np.clip(values // 257, 0, 255)
    image = Image.frombytes(mode, (61, height), values.astype(dtype).tobytes())
    gray = color.to_8bit(image)
    assert gray.mode == "L" and gray.size == image.size
    assert np.array_equal(np.asarray(gray), expected.astype(np.uint8))


def test_bands_hold_a_bounded_number_of_pixels_whatever_the_shape() -> None:
    from image_optimizer.imaging.color import WIDE_MODE_BAND_PIXELS, band_rows

    assert band_rows(1) == WIDE_MODE_BAND_PIXELS  # a 1-px strip in one band per 4 MP, not per 256 rows
    assert band_rows(10_000) * 10_000 <= WIDE_MODE_BAND_PIXELS and band_rows(10**8) == 1


def test_a_wide_image_is_converted_within_its_own_size_plus_the_8_bit_result() -> None:
    """Memory, not time: a 16-bit gray image converted whole took 10 bytes a pixel at the peak (a 100 MP PNG at
    MAX_FULL_DECODE_PIXELS: 1 GB, past the default function's memory); band by band, the source's 2 + 1."""
    code = (
        "import resource, numpy as np; from PIL import Image; from image_optimizer.imaging.color import to_8bit\n"
        "image = Image.frombytes('I;16', (4000, 4000), np.arange(16_000_000, dtype='<u2').tobytes())\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "gray = to_8bit(image)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / 16_000_000)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert float(result.stdout) < 3.0  # bytes a pixel above the source: the 8-bit result and a band (~2; was ~8)
