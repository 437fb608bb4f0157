"""Every corpus file gives correct, private renditions, or the right rejection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from image_optimizer.errors import ImageRejected
from image_optimizer.specs import PipelineConfig
from tests.colour import mean_delta_e
from tests.corpus.conftest import CORPUS, decoded, manifest, optimized, source_image
from tests.jpeg_markers import metadata_markers

ENTRIES = manifest()
REJECTED = {
    "07_hostile/bomb_bmp_3000000x2000000.bmp": "too_large",
    "07_hostile/bomb_gif_65535x66601_44bytes.gif": "too_large",
    "07_hostile/bomb_jpeg_20000x14000_gray.jpg": "too_large",
    "07_hostile/bomb_png_65536x65536_1bit.png": "too_large",
    "07_hostile/bomb_png_ztxt_decompression_dos.png": "too_large",
    "07_hostile/huge_real_photo_samsung_200mp.heic": "too_large",
    "07_hostile/corrupt_heic.heic": "corrupt",
    "07_hostile/corrupt_png_bad_bitdepth_xd0n2c08.png": "corrupt",
    "07_hostile/corrupt_png_bad_colortype_xc9n2c08.png": "corrupt",
    "07_hostile/corrupt_png_bad_crc_xcrn0g04.png": "corrupt",
    "07_hostile/corrupt_png_broken_data_stream.png": "corrupt",
    "07_hostile/corrupt_png_missing_idat_xdtn0g01.png": "corrupt",
    "07_hostile/text_file_named.jpg": "unsupported_format",
    "07_hostile/zero_byte.jpg": "unsupported_format",
    "07_hostile/truncated_jpeg_10kb_of_6mp.jpg": "truncated",
    "07_hostile/truncated_jpeg_pillow.jpg": "truncated",
    "07_hostile/truncated_png_10kb.png": "truncated",
    "07_hostile/truncated_png_image_data.png": "truncated",
}
ACCEPTED = [entry for entry in ENTRIES if entry.name not in REJECTED]
GPS_IFD, EXIF_IFD = 0x8825, 0x8769


def upright(entry_name: str) -> tuple[int, int]:
    image = source_image(entry_name)
    return ImageOps.exif_transpose(image).size if image.format != "HEIF" else image.size


def test_manifest_is_complete() -> None:
    assert len(ENTRIES) > 100
    assert set(REJECTED) <= {entry.name for entry in ENTRIES}


@pytest.mark.parametrize("entry", ACCEPTED, ids=lambda entry: entry.name)
def test_accepted_file_gives_private_jpegs_of_the_right_size(entry) -> None:  # type: ignore[no-untyped-def]
    result = optimized(entry.name)
    width, height = result.source_width, result.source_height
    assert [r.name for r in result.renditions] == ["main", "thumb", "small"]
    main = result.renditions[0]
    scale = min(1.0, 750 / width)  # fits 750 px wide, never upscaled, aspect kept, at least 1 px a side
    assert (main.width, main.height) == (max(1, round(width * scale)), max(1, round(height * scale)))
    assert (width, height) == upright(entry.name)
    for rendition in result.renditions:
        image = decoded(rendition.data)
        assert image.format == "JPEG" and image.size == (rendition.width, rendition.height)
        assert image.mode in ("RGB", "L")
        assert metadata_markers(rendition.data) == []  # no EXIF, XMP, ICC, IPTC, comment, maker data
        exif = image.getexif()
        assert not exif and GPS_IFD not in exif and EXIF_IFD not in exif
        assert "exif" not in image.info and "icc_profile" not in image.info


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_bad_file_is_rejected_with_the_right_kind(name: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        optimized(name)
    assert caught.value.kind == REJECTED[name]
    message = str(caught.value)
    assert message and "\n" not in message and "<" not in message
    if REJECTED[name] == "too_large" and "MAX_" in message:
        assert any(char.isdigit() for char in message.split("MAX_")[1])  # names the limit's value


def test_huge_heic_names_the_full_decode_limit() -> None:
    with pytest.raises(ImageRejected, match=r"MAX_FULL_DECODE_PIXELS=100000000"):
        optimized("07_hostile/huge_real_photo_samsung_200mp.heic")


# ---------------------------------------------------------------- orientation
ORIENTATION_SERIES = [
    (f"02_orientation/orient_{kind}_{n}.jpg", f"02_orientation/orient_{kind}_1.jpg")
    for kind in ("landscape", "portrait")
    for n in (0, 2, 3, 4, 5, 6, 7, 8)
]


@pytest.mark.parametrize(("name", "reference"), ORIENTATION_SERIES)
def test_exif_orientation_series_matches_the_upright_file(name: str, reference: str) -> None:
    out = decoded(optimized(name).main.data)
    ref = decoded(optimized(reference).main.data)
    assert out.size == ref.size
    difference = np.abs(np.asarray(out, float) - np.asarray(ref, float)).mean()
    assert difference < 8, difference  # a wrong rotation or mirror differs by ~40-60


@pytest.mark.parametrize("name", ["02_orientation/orient_png_exif_6.png", "02_orientation/orient_webp_exif_6.webp"])
def test_png_and_webp_orientation_matches_pillows_exif_transpose(name: str) -> None:
    reference = ImageOps.exif_transpose(source_image(name)).convert("RGBA")
    white = Image.new("RGBA", reference.size, (255, 255, 255, 255))
    reference = Image.alpha_composite(white, reference).convert("RGB")
    out = decoded(optimized(name).main.data).convert("RGB")
    assert out.size == reference.size
    assert np.abs(np.asarray(out, float) - np.asarray(reference, float)).mean() < 6


def test_avif_rotation_and_mirror_boxes_give_the_same_upright_picture() -> None:
    rotated = decoded(optimized("06_heic_avif/avif_kimono_irot90.avif").main.data)
    mirrored = decoded(optimized("06_heic_avif/avif_kimono_imir_horizontal.avif").main.data)
    assert rotated.size == mirrored.size == (722, 1024)
    assert np.abs(np.asarray(rotated, float) - np.asarray(mirrored, float)).mean() < 6


@pytest.mark.parametrize(
    "name", ["06_heic_avif/heic_iphone8plus_12mp_orient6.heic", "06_heic_avif/heic_iphone13promax_12mp_orient6.heic"]
)
def test_heic_is_rotated_once(name: str) -> None:
    # libheif applies the container's irot/imir; the EXIF orientation of the same file must not rotate it again.
    reference = source_image(name).convert("RGB")
    out = decoded(optimized(name).main.data).convert("RGB")
    assert out.size[0] < out.size[1] and reference.size[0] < reference.size[1]
    reference = reference.resize(out.size, Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(out, float) - np.asarray(reference, float)).mean() < 6


# ---------------------------------------------------------------- colour
def patches(image: Image.Image, block: int = 8) -> Image.Image:
    """Average over block x block patches: compares colour, not JPEG's high-frequency error."""
    return image.resize((max(1, image.width // block), max(1, image.height // block)), Image.Resampling.BOX)


def icc_reference(name: str, size: tuple[int, int], *, profile: bytes | None = None) -> Image.Image:
    """LittleCMS conversion of the full-size source to sRGB (perceptual, as the service), then Lanczos to `size`."""
    source = source_image(name)
    icc = profile or source.info["icc_profile"]
    if source.mode not in ("RGB", "CMYK", "L"):
        source = source.convert("RGB")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    converted = ImageCms.profileToProfile(
        source,
        ImageCms.ImageCmsProfile(io_bytes(icc)),
        srgb,
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
        outputMode="RGB",
    )
    assert converted is not None
    return ImageOps.exif_transpose(converted).resize(size, Image.Resampling.LANCZOS)


def io_bytes(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(data)


ICC_FILES = [
    "03_icc_color/icc_adobergb_canon_rebel_t6.jpg",
    "03_icc_color/icc_adobergb_tiff_fuji_xt2.tiff",
    "03_icc_color/icc_p3_d65_color_ring.jpg",
    "03_icc_color/icc_rec2020_color_bars.jpg",
    "03_icc_color/icc_rgb_to_gbr_swap.jpg",
    "03_icc_color/icc_prophoto_1x1.png",
    "03_icc_color/cmyk_plain_with_icc_swop.jpg",
    "03_icc_color/cmyk_ycck_with_icc_swop.jpg",
    "06_heic_avif/avif_iphonexs_orient6_p3.avif",
]
MAX_MEAN_DELTA_E = 1.0  # mean CIE76 over 8x8 patches, output vs. a full-size LittleCMS reference


@pytest.mark.parametrize("name", ICC_FILES)
def test_embedded_profile_is_converted_to_srgb(name: str) -> None:
    out = decoded(optimized(name).main.data).convert("RGB")
    reference = icc_reference(name, out.size)
    assert mean_delta_e(patches(out), patches(reference)) < MAX_MEAN_DELTA_E


@pytest.mark.parametrize(
    "name",
    [
        "03_icc_color/icc_p3_d65_color_ring.jpg",
        "03_icc_color/icc_rec2020_color_bars.jpg",
        "03_icc_color/icc_rgb_to_gbr_swap.jpg",
    ],
)
def test_ignoring_the_profile_would_be_visibly_wrong(name: str) -> None:
    # The check above can fail: the same pixels read as if they were sRGB are far from the reference.
    out = decoded(optimized(name).main.data).convert("RGB")
    untagged = ImageOps.exif_transpose(source_image(name).convert("RGB")).resize(out.size, Image.Resampling.LANCZOS)
    assert mean_delta_e(patches(untagged), patches(icc_reference(name, out.size))) > 3 * MAX_MEAN_DELTA_E


def test_untagged_cmyk_uses_a_press_profile_close_to_the_tagged_original() -> None:
    # The same photo with and without its SWOP profile: the FOGRA39 default lands near it; naive math does not.
    untagged = decoded(optimized("03_icc_color/cmyk_ycck_no_icc.jpg").main.data).convert("RGB")
    tagged = decoded(optimized("03_icc_color/cmyk_ycck_with_icc_swop.jpg").main.data).convert("RGB")
    naive = (
        source_image("03_icc_color/cmyk_ycck_no_icc.jpg").convert("RGB").resize(untagged.size, Image.Resampling.LANCZOS)
    )
    assert mean_delta_e(untagged, tagged) < 5
    assert mean_delta_e(naive, tagged) > 10


def test_gray_with_profile_and_gray_jpeg_stay_single_channel() -> None:
    for name in ["03_icc_color/gray_jpeg_icc_gray_gamma22.jpg", "03_icc_color/gray_jpeg_no_icc_800x533.jpg"]:
        assert all(decoded(r.data).mode == "L" for r in optimized(name).renditions)


# ---------------------------------------------------------------- alpha and depth
ALPHA_FILES = [
    "04_png/png_rgba_blackbug_2048x1536.png",
    "04_png/png_la_8bit_400x300.png",
    "04_png/png_palette_trns_300x225.png",
    "04_png/png_rgb_trns_colorkey_tbrn2c08.png",
    "05_gif_webp_tiff_bmp/gif_static_transparent.gif",
    "05_gif_webp_tiff_bmp/webp_lossless_alpha.webp",
    "05_gif_webp_tiff_bmp/bmp_32bit_rgba.bmp",
    "06_heic_avif/heic_rgba_512x512.heic",
    "06_heic_avif/avif_alpha_4k.avif",
]


@pytest.mark.parametrize("name", ALPHA_FILES)
def test_transparency_is_composited_onto_white(name: str) -> None:
    source = source_image(name).convert("RGBA")
    white = Image.new("RGBA", source.size, (255, 255, 255, 255))
    out = decoded(optimized(name).main.data).convert("RGB")
    reference = Image.alpha_composite(white, source).convert("RGB").resize(out.size, Image.Resampling.LANCZOS)
    block = 4 if min(out.size) >= 16 else 1
    assert np.abs(np.asarray(patches(out, block), float) - np.asarray(patches(reference, block), float)).mean() < 4


@pytest.mark.parametrize(
    "name", ["04_png/png_gray16_basn0g16.png", "05_gif_webp_tiff_bmp/tiff_16bit_gray_bigendian_deflate.tif"]
)
def test_sixteen_bit_gray_is_scaled_to_eight_bits(name: str) -> None:
    raw = np.asarray(source_image(name), dtype=float)
    out = decoded(optimized(name).main.data)
    assert out.mode == "L" and out.size == (raw.shape[1], raw.shape[0])
    assert np.abs(np.asarray(out, float) - raw / 257).mean() < 3


# ---------------------------------------------------------------- CLI and Lambda give the same bytes
def test_cli_and_lambda_give_identical_bytes(tmp_path: Path) -> None:
    names = [
        "01_photos_large/photo_canon_eos450d_12mp.jpg",
        "06_heic_avif/heic_rgba_512x512.heic",
        "04_png/png_la_8bit_400x300.png",
    ]
    inputs = [str(CORPUS / name) for name in names]
    result = subprocess.run(
        [sys.executable, "-m", "image_optimizer", "optimize", *inputs, "--out", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    cli_outputs = {
        r["path"]: Path(r["path"]).read_bytes() for entry in json.loads(result.stdout) for r in entry["renditions"]
    }

    from moto import mock_aws

    from image_optimizer import handler
    from tests.conftest import BUCKET, FakeContext
    from tests.integration.test_handler import put

    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        handler.get_service.cache_clear()
        for name in names:
            handler.lambda_handler(put(s3, f"incoming/{Path(name).name}", (CORPUS / name).read_bytes()), FakeContext())
        for path, data in cli_outputs.items():
            key = "media/" + Path(path).name
            assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data, key
        handler.get_service.cache_clear()
    assert len(cli_outputs) == 9


def test_config_from_defaults_matches_optimize_without_config() -> None:
    name = "08_kodak/kodim01.png"
    assert optimized(name, PipelineConfig()).main.data == optimized(name).main.data


# ---------------------------------------------------------------- memory: hostile files and large photos
LAMBDA_MEMORY_MB = 1024  # the template's default function memory, as an address-space limit
CHILD = Path(__file__).with_name("hostile_child.py")
MEMORY_CASES = [entry for entry in ENTRIES if entry.category in ("hostile", "photos_large", "heic_avif")]


@pytest.mark.parametrize("entry", MEMORY_CASES, ids=lambda entry: entry.name)
def test_within_lambda_memory_in_a_limited_process(entry, capsys) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, str(CHILD), str(entry.path), str(LAMBDA_MEMORY_MB)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]  # no MemoryError, no crash, no traceback
    outcome = json.loads(result.stdout)
    assert outcome["kind"] == REJECTED.get(entry.name)
    limit = 512 if entry.name in REJECTED else LAMBDA_MEMORY_MB
    assert outcome["max_rss_mb"] < limit
    with capsys.disabled():
        print(
            f"\n  {entry.name}: {outcome['kind'] or 'ok'} in {outcome['seconds']} s, peak RSS {outcome['max_rss_mb']:.0f} MB",
            end="",
        )
