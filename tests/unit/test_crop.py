"""Smart crops (crop.py) and focal points: where a cropped thumbnail's window goes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image, ImageDraw

from image_optimizer.imaging import crop, pipeline
from image_optimizer.imaging.layout import crop_plan
from image_optimizer.specs import PipelineConfig, parse_thumbnails
from tests.conftest import jpeg_bytes, png_bytes

SMART = PipelineConfig(thumbnails=parse_thumbnails("thumb:150x150:smart,wide:400x200:smart,small:320x320:fit"))


def scene(size: tuple[int, int], centre: tuple[int, int], radius: int = 45) -> Image.Image:
    """A dull, gently shaded background (fine stripes, the same everywhere) with one salient object: a red and
    white disc with detail of its own, centred at `centre`."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).point(lambda v: 90 + v // 6).convert("RGB")
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 6):  # an even texture: the background's, not a subject
        draw.line([(x, 0), (x, height)], fill=(112, 118, 110))
    cx, cy = centre
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(200, 30, 40))
    for ring in range(radius // 3, radius, 9):
        draw.ellipse([cx - ring, cy - ring, cx + ring, cy + ring], outline=(250, 240, 230), width=2)
    return image


def contains(window: crop.Window, box: tuple[float, float, float, float]) -> bool:
    return window[0] <= box[0] and window[1] <= box[1] and window[2] >= box[2] and window[3] >= box[3]


def centre_window(image: Image.Image, width: int, height: int) -> crop.Window:
    box, _ = crop_plan(image.width, image.height, width, height)
    return crop.rounded(box, image.size)


@pytest.mark.parametrize(
    ("size", "centre"),
    [
        ((900, 450), (150, 225)),  # left third of a wide image
        ((900, 450), (750, 225)),  # right third
        ((450, 900), (225, 130)),  # near the top of a tall one (a portrait's face)
        ((450, 900), (225, 770)),  # near the bottom
    ],
    ids=["left", "right", "top", "bottom"],
)
def test_the_window_holds_the_one_salient_object(size: tuple[int, int], centre: tuple[int, int]) -> None:
    image = scene(size, centre)
    disc = (centre[0] - 45, centre[1] - 45, centre[0] + 45, centre[1] + 45)
    window = crop.smart_box(image, 150, 150)
    assert contains(window, disc), window
    assert not contains(centre_window(image, 150, 150), disc)  # where a centre crop cuts it off
    # the same size as the centre crop, only moved
    centred = centre_window(image, 150, 150)
    assert (window[2] - window[0], window[3] - window[1]) == (centred[2] - centred[0], centred[3] - centred[1])


def test_a_picture_without_a_subject_keeps_the_centre_crop() -> None:
    image = Image.new("RGB", (900, 450), (120, 130, 140))
    assert crop.smart_box(image, 150, 150) == centre_window(image, 150, 150)


@pytest.mark.parametrize("size", [(1, 2000), (2000, 1), (3, 2000), (2000, 7), (1, 1)])
@pytest.mark.parametrize("target", [(150, 150), (400, 200), (200, 400)])
def test_extreme_shapes_give_a_window_inside_the_image_of_the_centre_crops_shape(
    size: tuple[int, int], target: tuple[int, int]
) -> None:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    window = crop.smart_box(image, *target)
    centred = centre_window(image, *target)
    assert 0 <= window[0] < window[2] <= size[0] and 0 <= window[1] < window[3] <= size[1]
    assert (window[2] - window[0], window[3] - window[1]) == (centred[2] - centred[0], centred[3] - centred[1])


def test_modes_with_alpha_palette_and_cmyk_are_read() -> None:
    base = scene((900, 450), (750, 225))
    disc = (705, 180, 795, 270)
    for image in (base.convert("RGBA"), base.convert("P"), base.convert("CMYK"), base.convert("L")):
        assert contains(crop.smart_box(image, 150, 150), disc), image.mode
    for mode in ("1", "I", "I;16", "F", "La", "RGBa", "PA", "YCbCr"):  # whatever Pillow can hold, a window
        assert crop.smart_box(Image.new(mode, (600, 300)), 150, 150) == (150, 0, 450, 300), mode


def test_transparent_parts_are_not_the_subject() -> None:
    image = scene((900, 450), (150, 225)).convert("RGBA")
    image.putalpha(Image.new("L", (900, 450), 0))
    ImageDraw.Draw(image).rectangle([650, 150, 800, 300], fill=(40, 90, 200, 255))  # the only opaque thing
    assert contains(crop.smart_box(image, 150, 150), (650, 150, 800, 300))


def test_the_pipeline_moves_smart_thumbnails_and_reports_every_cropped_window() -> None:
    data = jpeg_bytes(scene((1200, 600), (1000, 300), radius=60), quality=95)
    config = replace(SMART, thumbnails=(*SMART.thumbnails, *parse_thumbnails("plain:150x150:crop")))
    result = pipeline.optimize(data, config)
    assert set(result.windows) == {"thumb", "wide", "plain"}  # `fit` thumbnails show everything: no window
    assert contains(result.windows["thumb"], (940, 240, 1060, 360))
    assert result.windows["plain"] == (300, 0, 900, 600)  # a plain crop stays centred
    assert result.windows["wide"] == (0, 0, 1200, 600)  # already the target's shape: nothing to move
    thumb = next(r for r in result.renditions if r.name == "thumb")
    assert (thumb.width, thumb.height) == (150, 150)


def test_the_window_follows_exif_orientation() -> None:
    # Stored 600x1200 with the disc at the stored top; orientation 6 shows it upright as 1200x600, disc at right.
    upright = scene((1200, 600), (1000, 300), radius=60)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    result = pipeline.optimize(jpeg_bytes(stored, quality=95, exif=exif.tobytes()), SMART)
    assert (result.source_width, result.source_height) == (1200, 600)
    assert contains(result.windows["thumb"], (940, 240, 1060, 360))


def test_the_same_bytes_give_the_same_window() -> None:
    data = png_bytes(scene((900, 450), (700, 200)))
    first, second = pipeline.optimize(data, SMART), pipeline.optimize(data, SMART)
    assert first.windows == second.windows
    assert [r.data for r in first.renditions] == [r.data for r in second.renditions]
    image = Image.open(__import__("io").BytesIO(data))
    assert crop.smart_box(image, 150, 150) == crop.smart_box(image.copy(), 150, 150)


@pytest.mark.parametrize("fit", ["smart", "crop"])
def test_a_focal_point_wins_over_the_content(fit: str) -> None:
    data = png_bytes(scene((900, 450), (150, 225)))  # the salient disc is on the left
    config = PipelineConfig(thumbnails=parse_thumbnails(f"thumb:150x150:{fit},wide:200x400:{fit}"), focus=(0.8, 0.5))
    windows = pipeline.optimize(data, config).windows
    assert windows["thumb"] == (450, 0, 900, 450)  # the point (720, 225) inside, as central as the image allows
    assert windows["wide"] == (608, 0, 833, 450)  # 225 px wide, centred on x=720


def test_focus_metadata_is_two_fractions() -> None:
    assert crop.parse_focus("0.3,0.25") == (0.3, 0.25)
    assert crop.parse_focus(" 1 , 0 ") == (1.0, 0.0)
    assert crop.parse_focus(crop.format_focus((0.123456, 1))) == (0.1235, 1.0)
    for bad in ("", "0.5", "0.1,0.2,0.3", "1.5,0.2", "0.2,-0.1", "a,b", "nan,0.5", "1e-1,0.5", "0.5;0.5"):
        with pytest.raises(ValueError):
            crop.parse_focus(bad)
    with pytest.raises(ValueError):
        crop.format_focus((2, 0.5))


def test_smart_is_a_thumbnail_mode_of_the_setting() -> None:
    from image_optimizer.errors import SettingsError
    from image_optimizer.settings import load_settings
    from image_optimizer.specs import ThumbnailSpec

    settings = load_settings({"THUMBNAILS": "thumb:150x150:smart,small:320x320:fit"})
    assert settings.pipeline.thumbnails[0] == ThumbnailSpec("thumb", 150, 150, "smart")
    with pytest.raises(SettingsError, match="THUMBNAILS"):
        load_settings({"THUMBNAILS": "thumb:150x150:clever"})
