"""Content-aware crops: where a thumbnail's window goes when it cannot show the whole picture.

The window has the size a centre crop would have and is only moved, never zoomed, along the one axis on which
it is shorter than the image. Where it goes is decided on a small working copy (at most WORK_SIDE px a side):
  salience = colour unlike the background's (the background sampled along the image's borders)
           + detail beyond the background's (edges and in-focus texture; an even texture is not a subject)
           + skin tones the background does not share (people, what users' uploads are mostly about)
  each scaled to its mean, weighted by opacity, projected on the moving axis and weighted there by a centre
  prior (photographers centre their subjects); the window takes the position that holds the most of it, pulled
  a little towards the centre (so a picture without a subject keeps a centre crop). A client's focal point (x-amz-meta-focus) overrides all of it: layout.py places every crop on it.
Pillow only, so the Lambda layer needs nothing new; benchmarks/crops.py measures it against the alternatives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from PIL import Image, ImageChops, ImageFilter, ImageMath, ImageStat

from .layout import Box, centred_on, crop_plan, fit_size, orient

if TYPE_CHECKING:
    from ..specs import PipelineConfig
    from .layout import Plan

WORK_SIDE = 128  # px: places a window to within 1 % of the image, in a few ms
BORDER = 0.08  # the strips along each side that sample the background, as a fraction of that side
COLOUR_WEIGHT = 1.0
DETAIL_WEIGHT = 1.0
SKIN_WEIGHT = 0.5
CENTRE_SIGMA = 0.35  # the centre prior: a Gaussian of this width (a fraction of the side) weighs the salience
CENTRE_PULL = 0.1  # per unit of distance moved, in fractions of all the salience: moves need a clear gain
SAMPLING = 4  # a large image is sampled on a grid of this many points per working pixel and side
STEPS = 100  # window positions tried along the moving axis

Window = tuple[int, int, int, int]

# Point tables, built once.
_SKIN_CB = [255 if 77 <= v <= 127 else 0 for v in range(256)]  # Chai and Ngan's skin ranges in YCbCr
_SKIN_CR = [255 if 133 <= v <= 173 else 0 for v in range(256)]
_LIT = [255 if v >= 40 else 0 for v in range(256)]  # skin in deep shadow is not told from anything else
_DISTANCES: dict[int, list[int]] = {}
_PRIORS: dict[int, list[float]] = {}


def _prior(count: int) -> list[float]:
    """The centre prior's weight of each of `count` columns (or rows), cached (count <= WORK_SIDE)."""
    if count not in _PRIORS:
        _PRIORS[count] = [math.exp(-(((i + 0.5) / count - 0.5) ** 2) / (2 * CENTRE_SIGMA**2)) for i in range(count)]
    return _PRIORS[count]


def _distance(mean: int) -> list[int]:
    """The point table v -> |v - mean|, cached (a background's mean is one of 256 values)."""
    if mean not in _DISTANCES:
        _DISTANCES[mean] = [abs(v - mean) for v in range(256)]
    return _DISTANCES[mean]


def smart_box(image: Image.Image, width: int, height: int) -> Window:
    """The window (x0, y0, x1, y1), x1/y1 exclusive, in `image`'s pixels (upright), that is then scaled to
    `width` x `height`: the target's aspect ratio, the size of a centre crop, placed on the image's subject."""
    box, _ = crop_plan(image.width, image.height, width, height)
    centre = salient_centre(saliency(image), _fractions(box, image.size))
    return rounded(centred_on(box, image.size, centre), image.size)


def place_smart(
    plans: list[Plan], image: Image.Image, upright: tuple[int, int], orientation: int, config: PipelineConfig
) -> list[Plan]:
    """The pipeline's step: each `smart` thumbnail's plan moved onto the subject. `image` is the working image
    (the whole source, scaled, as stored: `orientation` turns it upright, `upright` is the source's upright
    size). A focal point wins over any heuristic (layout.py has placed every crop on it): nothing moves then."""
    smart = {spec.name for spec in config.thumbnails if spec.fit == "smart"}
    if not smart or config.focus is not None:
        return plans
    salience = saliency(image, orientation=orientation)
    return [
        replace(plan, box=centred_on(plan.box, upright, salient_centre(salience, _fractions(plan.box, upright))))
        if plan.name in smart
        else plan
        for plan in plans
    ]


def crop_windows(plans: list[Plan], config: PipelineConfig) -> dict[str, Window]:
    """Each cropped thumbnail's window in whole upright source pixels: what the completion event reports."""
    cropped = {spec.name for spec in config.thumbnails if spec.crops}
    whole = plans[0].box  # the main plan's box is the whole upright source
    size = (round(whole[2]), round(whole[3]))
    return {plan.name: rounded(plan.box, size) for plan in plans if plan.name in cropped}


def saliency(image: Image.Image, *, orientation: int = 1) -> Image.Image:
    """A small map ("F" mode, at most WORK_SIDE a side, upright) of how much each part of `image` draws the eye."""
    small, alpha = _working_copy(image, orientation)
    ycc = small.convert("YCbCr")
    y, cb, cr = ycc.split()
    colour = _distinct(ycc)
    skin = ImageChops.multiply(_skin(y, cb, cr), colour)  # skin the background does not share
    total: Image.Image | None = None
    for weight, feature in ((COLOUR_WEIGHT, colour), (DETAIL_WEIGHT, _beyond_border(_detail(y))), (SKIN_WEIGHT, skin)):
        mean = ImageStat.Stat(feature).mean[0]
        if weight and mean > 0:
            scaled = feature.convert("F").point(lambda v, k=weight / mean: v * k)
            total = scaled if total is None else ImageMath.lambda_eval(lambda a: a["a"] + a["b"], a=total, b=scaled)
    if total is None:  # a flat image: nothing draws the eye anywhere
        total = Image.new("F", small.size, 1.0)
    if alpha is not None:  # what is transparent is not the subject
        total = ImageMath.lambda_eval(lambda a: a["a"] * a["b"] / 255, a=total, b=alpha.convert("F"))
    return total


def salient_centre(salience: Image.Image, window: tuple[float, float]) -> tuple[float, float]:
    """Centre (fractions of the image) of the window of `window` size (fractions) holding the most salience."""
    width, height = window
    x = _best_start(_profile(salience, horizontal=True), width) + width / 2 if width < 1 else 0.5
    y = _best_start(_profile(salience, horizontal=False), height) + height / 2 if height < 1 else 0.5
    return x, y


def rounded(box: Box, size: tuple[int, int] | None = None) -> Window:
    """Whole pixels, the size rounded once (a centre crop's shape is kept exactly), inside `size` if given."""
    box_w, box_h = max(1, round(box[2] - box[0])), max(1, round(box[3] - box[1]))
    x, y = round(box[0]), round(box[1])
    if size:
        box_w, box_h = min(box_w, size[0]), min(box_h, size[1])
        x, y = min(max(x, 0), size[0] - box_w), min(max(y, 0), size[1] - box_h)
    return (x, y, x + box_w, y + box_h)


FOCUS_METADATA = "focus"  # x-amz-meta-focus: x,y, a client's focal point for every crop; kept on the archive copy
_FOCUS = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*,\s*([0-9]*\.?[0-9]+)\s*$")


def parse_focus(text: str) -> tuple[float, float]:
    """`x,y` (fractions 0-1 of the upright image, `0.3,0.25`) -> (x, y); raises ValueError otherwise."""
    match = _FOCUS.match(text)
    if not match:
        raise ValueError(f"focus {text[:40]!r} is not two numbers x,y")
    x, y = float(match[1]), float(match[2])
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise ValueError(f"focus {text[:40]!r} is outside 0-1")
    return x, y


def focus_in(
    metadata: Mapping[str, str], *, ignored: Callable[[ValueError], object] | None = None
) -> tuple[float, float] | None:
    """The focal point `metadata` carries, or None: none there, or unreadable (then passed to `ignored`): a bad
    point is never the upload's failure."""
    if FOCUS_METADATA not in metadata:
        return None
    try:
        return parse_focus(metadata[FOCUS_METADATA])
    except ValueError as error:
        if ignored:
            ignored(error)
        return None


def format_focus(point: tuple[float, float]) -> str:
    """The x-amz-meta-focus value of a focal point; raises ValueError for one outside the image."""
    x, y = (float(value) for value in point)
    text = f"{x:.4f},{y:.4f}"
    parse_focus(text)
    return text


def _fractions(box: Box, size: tuple[float, float]) -> tuple[float, float]:
    return (box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1]


def _working_copy(image: Image.Image, orientation: int) -> tuple[Image.Image, Image.Image | None]:
    """RGB at most WORK_SIDE a side, upright, and its alpha when it has one."""
    if image.mode in ("La", "RGBa"):  # premultiplied: Pillow converts these to their plain forms only
        image = image.convert(image.mode.upper())
    if image.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        has_alpha = "transparency" in image.info or image.mode == "PA"
        image = image.convert("RGBA" if has_alpha else "RGB")
    size = fit_size(image.width, image.height, WORK_SIDE, WORK_SIDE)
    if max(image.size) > SAMPLING * WORK_SIDE:
        # Every pixel of a large image is more reading than the decision needs: a grid of SAMPLING^2 samples per
        # working pixel, averaged, places windows as well (within 0.01 on benchmarks/crops.py) at a fifth of the time.
        sampled = image.resize((size[0] * SAMPLING, size[1] * SAMPLING), Image.Resampling.NEAREST)
        small = sampled.reduce(SAMPLING)
    else:
        small = image.resize(size, Image.Resampling.BOX) if size != image.size else image
    small = orient(small, orientation)
    alpha = small.getchannel("A") if small.mode in ("RGBA", "LA") else None
    return small.convert("RGB"), alpha


def _strips(size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The four border strips (top, bottom, left, right) that sample the background."""
    width, height = size
    band_w, band_h = max(1, round(width * BORDER)), max(1, round(height * BORDER))
    return [
        (0, 0, width, band_h),
        (0, height - band_h, width, height),
        (0, 0, band_w, height),
        (width - band_w, 0, width, height),
    ]


def _distinct(ycc: Image.Image) -> Image.Image:
    """How far each pixel's colour is from the background's: from the nearest of the four border strips' mean
    colours (a subject that touches one border still differs from the other three)."""
    channels = [channel.filter(ImageFilter.BoxBlur(1)) for channel in ycc.split()]
    nearest: Image.Image | None = None
    for strip in _strips(ycc.size):
        means = ImageStat.Stat(ycc.crop(strip)).mean
        dy, dcb, dcr = (channel.point(_distance(round(mean))) for channel, mean in zip(channels, means, strict=True))
        distance = ImageChops.add(ImageChops.add(dcb, dcr), dy)
        nearest = distance if nearest is None else ImageChops.darker(nearest, distance)
    assert nearest is not None
    return nearest


def _detail(y: Image.Image) -> Image.Image:
    """Local contrast of luma: edges and in-focus texture, spread over their neighbourhood."""
    edges = Image.new("L", y.size, 0)  # Pillow leaves the 1-px frame unfiltered: that is not an edge
    if y.width > 2 and y.height > 2:
        edges.paste(y.filter(ImageFilter.FIND_EDGES).crop((1, 1, y.width - 1, y.height - 1)), (1, 1))
    return edges.filter(ImageFilter.BoxBlur(2))


def _beyond_border(feature: Image.Image) -> Image.Image:
    """What a feature holds beyond its weakest level along the borders: the background's texture is no subject."""
    level = round(min(ImageStat.Stat(feature.crop(strip)).mean[0] for strip in _strips(feature.size)))
    return feature.point([max(0, v - level) for v in range(256)])


def _skin(y: Image.Image, cb: Image.Image, cr: Image.Image) -> Image.Image:
    mask = ImageChops.multiply(ImageChops.multiply(cb.point(_SKIN_CB), cr.point(_SKIN_CR)), y.point(_LIT))
    return mask.filter(ImageFilter.BoxBlur(1))


def _profile(salience: Image.Image, *, horizontal: bool) -> list[float]:
    """Salience averaged across the other axis, one value per column (or row), weighted by the centre prior:
    photographers put subjects near the middle, so what draws the eye there counts more than at the edges."""
    size = (salience.width, 1) if horizontal else (1, salience.height)
    line = salience.resize(size, Image.Resampling.BOX)
    count = max(size)
    values = (line.getpixel((i, 0) if horizontal else (0, i)) for i in range(count))
    return [float(value) * weight for value, weight in zip(values, _prior(count), strict=True)]  # type: ignore[arg-type]


def _best_start(profile: Sequence[float], length: float) -> float:
    """Start (fraction) of the window `length` (fraction) long that holds the most of `profile`, each position's
    share discounted by CENTRE_PULL times its distance from the centred position."""
    count = len(profile)
    cumulative = [0.0]
    for value in profile:
        cumulative.append(cumulative[-1] + max(0.0, value))
    total = cumulative[-1] or 1.0

    def before(fraction: float) -> float:
        position = min(max(fraction * count, 0.0), float(count))
        index = min(int(position), count - 1)
        return cumulative[index] + (position - index) * (cumulative[index + 1] - cumulative[index])

    slack = 1.0 - length
    best, best_score = slack / 2, (before(slack / 2 + length) - before(slack / 2)) / total
    for step in range(STEPS + 1):
        start = slack * step / STEPS
        score = (before(start + length) - before(start)) / total - CENTRE_PULL * abs(start - slack / 2)
        if score > best_score + 1e-9:  # ties keep the centre
            best, best_score = start, score
    return best
