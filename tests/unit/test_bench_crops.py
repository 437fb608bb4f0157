"""benchmarks/crops.py's own arithmetic: the score, the off-centre crops it makes of a labelled photo, the best
window, and that libvips' window is found where libvips put it. The numbers themselves are `make bench`'s."""

from __future__ import annotations

import pytest
from PIL import Image

from benchmarks import crops
from tests.unit.test_crop import scene


def test_kept_is_the_share_of_the_subject_inside_the_window() -> None:
    subject = (0.25, 0.0, 0.75, 1.0)  # 50..150 of 200 x 100
    assert crops.kept((0, 0, 200, 100), (200, 100), subject) == 1
    assert crops.kept((100, 0, 200, 100), (200, 100), subject) == pytest.approx(0.5)
    assert crops.kept((150, 0, 200, 100), (200, 100), subject) == 0
    assert crops.centre_inside((60, 0, 110, 100), (200, 100), subject)
    assert not crops.centre_inside((0, 0, 90, 100), (200, 100), subject)


@pytest.mark.parametrize(("end", "x0"), [("start", 0.2), ("end", 0.75)])
def test_an_off_centre_crop_holds_the_whole_subject_near_the_chosen_end(end: str, x0: float) -> None:
    subject = (x0, 0.3, x0 + 0.05, 0.6)  # of a 2000 x 1000 photo: 100 x 300 px
    cut = crops.off_centre((2000, 1000), subject, 2.0, end)
    assert cut is not None
    region, inside = cut
    assert (region[2] - region[0], region[3] - region[1]) == (1400, 700)  # CROP_SCALE of the whole photo
    assert 0 <= inside[0] < inside[2] <= 1 and 0 <= inside[1] < inside[3] <= 1  # all of it inside
    margin = round(0.03 * 1400)  # MARGIN of the crop's length between the subject and that end
    assert region[0] == x0 * 2000 - margin if end == "start" else region[2] == (x0 + 0.05) * 2000 + margin
    assert region[0] + inside[0] * 1400 == pytest.approx(x0 * 2000)  # the subject mapped back is where it was
    assert region[1] + inside[1] * 700 == pytest.approx(300)


def test_no_off_centre_crop_when_the_subject_is_too_big_or_stays_central() -> None:
    assert crops.off_centre((1000, 1000), (0.0, 0.1, 1.0, 0.9), 2.0, "start") is None  # 800 px tall in 500
    assert crops.off_centre((1000, 1000), (0.05, 0.4, 0.95, 0.5), 2.0, "end") is None  # 900 wide: stays central


def test_the_best_window_keeps_at_least_what_any_method_keeps() -> None:
    image = scene((900, 450), (150, 225))
    subject = (105 / 900, 180 / 450, 195 / 900, 270 / 450)
    best = crops.best_window(image, 150, 150, subject)
    assert crops.kept(best, image.size, subject) == 1
    for method in (crops.centre_window, crops.METHODS["ours (smart)"]):
        assert crops.kept(method(image, 150, 150), image.size, subject) <= 1


def test_the_libvips_window_is_the_one_libvips_cut() -> None:
    # libvips attention on an image with one bright, saturated object: its window is found and scaled back
    image = scene((900, 450), (760, 225))
    window = crops.vips_method("attention")(image, 150, 150)
    assert (window[2] - window[0], window[3] - window[1]) == (450, 450)
    assert window[0] > 225  # moved right of the centre crop (225..675), towards the object
    assert crops.vips_method("entropy")(Image.new("RGB", (100, 50)), 150, 150) == crops.centre_window(
        Image.new("RGB", (100, 50)), 150, 150
    )  # a source smaller than the thumbnail: nothing to move
