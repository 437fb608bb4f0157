"""The methods benchmarks/crops.py compares beside ours and the centre crop: libvips' smartcrop (attention,
entropy), and thumbor's order, faces first (OpenCV's Haar cascade), measured when OpenCV can be imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image

from benchmarks.baselines import pyvips_one_thread
from image_optimizer.imaging import crop
from image_optimizer.imaging.layout import crop_plan

Window = tuple[int, int, int, int]
Method = Callable[[Image.Image, int, int], Window]


def centre_window(image: Image.Image, width: int, height: int) -> Window:
    box, _ = crop_plan(image.width, image.height, width, height)
    return crop.rounded(box, image.size)


def vips_method(interesting: str) -> Method:
    """libvips' smartcrop at the thumbnail's scale (as thumbnail_image(crop=...) does), its window found in the
    resized image and scaled back; the window keeps the centre crop's size, so only the position is compared."""

    def window(image: Image.Image, width: int, height: int) -> Window:
        import numpy as np

        scale = max(width / image.width, height / image.height)
        if scale >= 1:
            return centre_window(image, width, height)
        pixels = np.asarray(image)
        source = pyvips_one_thread().Image.new_from_array(pixels, interpretation="srgb")
        resized = source.resize(scale)
        chosen = resized.smartcrop(min(width, resized.width), min(height, resized.height), interesting=interesting)
        whole, part = resized.numpy(), chosen.numpy()
        left = top = 0
        if part.shape[1] < whole.shape[1]:
            left = next(x for x in range(whole.shape[1] - part.shape[1] + 1) if _same(whole[:, x:], part))
        if part.shape[0] < whole.shape[0]:
            top = next(y for y in range(whole.shape[0] - part.shape[0] + 1) if _same(whole[y:], part))
        centre = ((left + part.shape[1] / 2) / whole.shape[1], (top + part.shape[0] / 2) / whole.shape[0])
        box, _ = crop_plan(image.width, image.height, width, height)
        return crop.rounded(crop.centred_on(box, image.size, centre), image.size)

    return window


def _same(region: Any, part: Any) -> bool:
    return bool((region[: part.shape[0], : part.shape[1]] == part).all())


def vips_timing(interesting: str) -> Callable[[Image.Image, int, int], object]:
    """What a libvips user runs: thumbnail_image with the crop (from pixels already in memory)."""

    def run(image: Image.Image, width: int, height: int) -> object:
        import numpy as np

        source = pyvips_one_thread().Image.new_from_array(np.asarray(image), interpretation="srgb")
        return source.thumbnail_image(width, height=height, crop=interesting).numpy()

    return run


FACE_SIDE = 480  # px: the Haar detector's input, the longest side (its smallest face is 1/16 of that: 30 px)


def faces_then_ours(image: Image.Image, width: int, height: int) -> Window:
    """thumbor's order: frontal faces (OpenCV's Haar cascade, shipped in the wheel) when there are any, the
    window centred on all of them; otherwise ours."""
    import numpy as np

    scale = min(1.0, FACE_SIDE / max(image.size))
    small = image.convert("L").resize((round(image.width * scale), round(image.height * scale)))
    found = _cascade().detectMultiScale(np.asarray(small), scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    if len(found) == 0:
        return crop.smart_box(image, width, height)
    x0 = min(x for x, _, _, _ in found) / small.width
    y0 = min(y for _, y, _, _ in found) / small.height
    x1 = max(x + w for x, _, w, _ in found) / small.width
    y1 = max(y + h for _, y, _, h in found) / small.height
    box, _ = crop_plan(image.width, image.height, width, height)
    return crop.rounded(crop.centred_on(box, image.size, ((x0 + x1) / 2, (y0 + y1) / 2)), image.size)


_CASCADES: list[Any] = []


def _cascade() -> Any:
    import cv2

    if not _CASCADES:
        cv2.setNumThreads(1)  # one thread, as the others are timed
        _CASCADES.append(cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml"))
    return _CASCADES[0]


def has_opencv() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True
