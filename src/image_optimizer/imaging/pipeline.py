"""Pure pipeline: bytes (or a file still arriving) in, JPEG renditions out. No AWS, no environment.

The steps, in order (each a small function below):
  open + guard pixels -> plan sizes (layout.py) -> DCT-scaled decode (JPEG) -> 8-bit -> integer pre-shrink
  -> smart crops placed on the subject (crop.py)
  -> per rendition: Lanczos resize -> sRGB -> flatten alpha -> upright
  -> encode without metadata (encode.py: JPEG at a per-image quality, optional WebP/AVIF siblings);
  thumbnails reuse the finished main image when it has enough pixels.
With PipelineConfig.threads > 1 the thumbnails are rendered, and WebP/AVIF siblings encoded, on other threads
while the main JPEG is searched and encoded (Pillow, jpegli and the WebP/AVIF encoders release the GIL while they
work); the bytes are the same at any thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import IO, ParamSpec, TypeVar

from PIL import Image

from ..specs import PipelineConfig
from . import color, crop, decode
from .encode import MAIN_JPEG, THUMBNAIL_JPEG, JpegOptions, encode_extra, encode_jpeg, thumbnail_quality
from .layout import Plan, box_to_stored, lay_out, needed_scale, orient, upright_size
from .placeholder import Placeholder, of_image

Scale = tuple[float, float]
Picture = tuple[Plan, Image.Image]
Reduction = tuple[int, int]  # working pixels per source pixel, as a fraction: (3, 8) for a 3/8 DCT scale

# Integer box reduction stops at 1.5x the final size (Pillow's thumbnail() stops at 2x): on HEIC/AVIF it saves
# ~7 % of the time for <= 0.33 SSIMULACRA2 points, measured once reduce() is mapped exactly (working_scale).
REDUCE_GAP = 1.5
THUMBNAIL_FROM_MAIN_GAP = 2.0  # a thumbnail is resampled from the main image when that has 2x its pixels
# Thumbnails from the main image are box-reduced first while they keep 1.5x their pixels (Pillow's thumbnail()
# stops at 2x): a 750x1000 main reduces to 375x500 before its 240x320 thumbnail, a third of the Lanczos work, about
# 5 ms per portrait photo. Over the bench + Kodak + 6 held-out images against 2x: thumbnail bytes -1.5 / -0.4 %
# (crop / fit), mean score +3.93 / +3.91 above the seed's instead of +4.36 / +4.06, worst fit thumbnail -1.91
# instead of -0.86, inside the 2-point bound every rendition keeps.
THUMBNAIL_REDUCING_GAP = 1.5
# Lanczos: bicubic was measured at about a fifth less JPEG time for up to 2.6 SSIMULACRA2 points less.
RESAMPLE = Image.Resampling.LANCZOS
# DCT-scaled JPEG decoding keeps 1.2x the largest rendition: 1.0 visibly softens some photos (the Oppo photo, 4.4
# SSIMULACRA2 points at 1/4 where 3/8 covers it 1.56x). 1.2 rather than 1.3 lets 3/8 serve the 8-10 MP phone and
# camera portraits (iPhone 4S, Canon 1000D), which 1.3 sent to 1/2: the same decode time (libjpeg-turbo's 3/8
# IDCT has no SIMD, its 1/2 does) and 44 % fewer pixels to resample, for +0.04 / +0.12 points and +1 % bytes there.
DRAFT_GAP = 1.2


@dataclass(frozen=True)
class Rendition:
    name: str
    data: bytes
    width: int
    height: int
    format: str = "jpeg"  # or an EXTRA_FORMATS sibling: "webp", "avif"
    quality: int | None = None  # the JPEG quality it was encoded at


@dataclass(frozen=True)
class OptimizedImage:
    renditions: list[Rendition]  # the JPEGs (main first, then thumbnails in THUMBNAILS order), then siblings
    source_format: str
    source_width: int
    source_height: int
    placeholder: Placeholder | None = None  # ThumbHash and average colour of the main image
    windows: dict[str, crop.Window] = field(default_factory=dict)  # each cropped thumbnail's source window

    @property
    def main(self) -> Rendition:
        return self.renditions[0]


def optimize(data: bytes | IO[bytes], config: PipelineConfig | None = None) -> OptimizedImage:
    """Turn an uploaded file into JPEG renditions (main first), or raise an ImageRejected subclass. `data` may be
    a seekable file still being received: decoding reads it as it arrives."""
    config = config or PipelineConfig()
    with workers(config.threads) as pool:
        rendered = render(data, config, pool)
        renditions = encode_all(rendered, config, pool=pool)
        placeholder = of_image(rendered.main[1])
        return OptimizedImage(renditions, rendered.format, *rendered.upright, placeholder, rendered.windows)


_P = ParamSpec("_P")
_T = TypeVar("_T")


class Serial(Executor):
    """Runs each task as it is submitted, in the caller's thread: one thread takes the same code path, in order."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # raised where the result is asked for, as from a thread
            future.set_exception(error)
        return future


@contextmanager
def workers(threads: int) -> Iterator[Executor]:
    """`threads` - 1 threads beside the caller's (none for 1)."""
    if threads <= 1:
        yield Serial()
        return
    with ThreadPoolExecutor(threads - 1, thread_name_prefix="pipeline") as pool:
        yield pool


@dataclass(frozen=True)
class Rendered:
    """Every rendition's finished pixels (upright, sRGB, flattened), before encoding: the main image, and the
    thumbnails, which may still be rendering on another thread."""

    main: Picture
    thumbnails: Future[list[Picture]]
    format: str
    upright: tuple[int, int]
    windows: dict[str, crop.Window] = field(default_factory=dict)


def render(data: bytes | IO[bytes], config: PipelineConfig, pool: Executor | None = None) -> Rendered:
    """Decode, then every rendition's pixels; the thumbnails are rendered on `pool` (by default, at once)."""
    decoded = decode.open_image(data, max_pixels=config.max_pixels)
    grayscale = color.is_grayscale(decoded.image)
    icc = decoded.image.info.get("icc_profile")
    # JPEG's EXIF comes with the header: plan first, then decode at the DCT scale the plan needs. Every other
    # format is planned after load: for PNG, getexif() would otherwise decode the pixels itself and hide errors.
    early = lay_out(decoded, decoded.image, config) if decoded.image.format in ("JPEG", "MPO") else None
    if early:
        reduction = draft(decoded.image, min(1.0, needed_scale(early.plans) * DRAFT_GAP))
    else:
        decode.check_full_decode(decoded, config.max_full_decode_pixels)  # no scaled decoding for these
        reduction = (1, 1)
    image = decode.load(decoded)
    if early is None and image.size != (decoded.width, decoded.height):
        # A HEIF clean aperture ('clap') can make the pixels decoded differ from the size the header gave (found by
        # fuzzing): planned on the header, the renditions would be stretched. The pixels decide.
        decoded = replace(decoded, width=image.width, height=image.height)
    layout = early or lay_out(decoded, image, config)
    orientation, upright, plans = layout.orientation, layout.upright, layout.plans
    image = color.to_8bit(image)
    stored = (decoded.width, decoded.height)  # the source's pixels as stored, before EXIF orientation
    image, factor = shrink(image, stored, needed_scale(plans))
    scale = working_scale(image, stored, (reduction[0], reduction[1] * factor))
    image.info = {}  # nothing from the source (EXIF, XMP, comments, ICC) may reach an output
    plans = crop.place_smart(plans, image, upright, orientation, config)  # smart crops move onto the subject

    def finish(resampled: Image.Image) -> Image.Image:
        """Colour and alpha on the resampled pixels, not the large working image: a fraction of the work.
        Pillow resamples RGBA premultiplied, so flattening afterwards leaves no dark fringes."""
        return color.flatten(color.to_srgb(resampled, icc), config.background, grayscale=grayscale)

    main, thumbnails = render_all(image, scale, plans, upright, orientation, finish, pool or Serial())
    return Rendered(main, thumbnails, decoded.format, upright, crop.crop_windows(plans, config))


Finish = Callable[[Image.Image], Image.Image]


def render_all(
    image: Image.Image,
    scale: Scale,
    plans: list[Plan],
    upright: tuple[int, int],
    orientation: int,
    finish: Finish,
    pool: Executor,
) -> tuple[Picture, Future[list[Picture]]]:
    """The main image, resampled from the working image still in stored orientation and turned upright after
    (transposing the small result is cheaper); the thumbnails, as one task on `pool`, largest first. Each is
    resampled from the smallest finished picture of the whole image (the main, or a larger `fit` thumbnail) that
    still has THUMBNAIL_FROM_MAIN_GAP x its pixels, a fraction of the work of resampling the large working image
    again; a `fit` thumbnail larger than that (a 2x main) comes from the working image, never upscaled. One task, not one each: they share `finish`'s ImageCms transform, which is not safe to
    run on two threads at once (LittleCMS caches its last pixel in it)."""
    main_plan, *thumbnail_plans = plans
    main = render_upright(image, scale, main_plan, upright, orientation, finish)

    whole = (0.0, 0.0, float(upright[0]), float(upright[1]))

    def thumbnails() -> list[Picture]:
        finished: dict[int, Picture] = {}
        sources = [main]  # finished pictures of the whole image, each a source for the smaller thumbnails
        for index, plan in sorted(enumerate(thumbnail_plans), key=lambda item: -item[1].size[0] * item[1].size[1]):
            source = smallest_source(sources, upright, THUMBNAIL_FROM_MAIN_GAP * needed_scale([plan]))
            if source is not None:
                source_scale = (source.width / upright[0], source.height / upright[1])  # upright pixels -> its own
                thumbnail = resize(source, plan, source_scale, THUMBNAIL_REDUCING_GAP)
            else:
                thumbnail = render_upright(image, scale, plan, upright, orientation, finish)
            if plan.box == whole:
                sources.append(thumbnail)
            finished[index] = (plan, thumbnail)
        return [finished[index] for index in range(len(thumbnail_plans))]

    return (main_plan, main), pool.submit(thumbnails)


def smallest_source(pictures: list[Image.Image], upright: tuple[int, int], needed: float) -> Image.Image | None:
    """The smallest finished picture of the whole image with at least `needed` of the source's pixels per
    source pixel on both axes, or None."""
    usable = [p for p in pictures if min(p.width / upright[0], p.height / upright[1]) >= needed]
    return min(usable, key=lambda picture: picture.width * picture.height, default=None)


def encode_all(
    rendered: Rendered,
    config: PipelineConfig,
    *,
    jpeg: tuple[JpegOptions, JpegOptions] = (MAIN_JPEG, THUMBNAIL_JPEG),
    pool: Executor | None = None,
) -> list[Rendition]:
    """JPEG for each, then each extra format. The thumbnails show the main image's content, so their quality
    follows the one chosen for it rather than searching their own (`thumbnail_quality`, and encode.py's other
    thumbnail rules). The main JPEG is encoded in this thread, beside the thumbnails' rendering and the siblings'
    encoding on `pool` (by default, all in turn). `jpeg`: how the main JPEG and the thumbnails are written."""
    pool = pool or Serial()
    main_options, thumbnail_options = jpeg
    main_plan, main = rendered.main
    # Submitted after the thumbnails' rendering, so no task waits on one queued behind it.
    siblings = [pool.submit(encode_siblings, rendered, fmt) for fmt in config.extra_formats]
    renditions = [encode(main, main_plan.name, config.quality, config, main_options)]
    quality = thumbnail_quality(main, renditions[0].quality, fixed=config.quality, encoder=config.encoder)
    renditions += [
        encode(picture, plan.name, quality, config, thumbnail_options) for plan, picture in rendered.thumbnails.result()
    ]
    for future in siblings:
        renditions += future.result()
    return renditions


def encode_siblings(rendered: Rendered, fmt: str) -> list[Rendition]:
    """The `fmt` (WebP, AVIF) sibling of each rendition: the main image's first, at the main quality (without
    waiting for the thumbnails, which may still be rendering), then the thumbnails' at the thumbnail quality."""

    def sibling(plan: Plan, picture: Image.Image, *, thumbnail: bool) -> Rendition:
        return Rendition(plan.name, encode_extra(picture, fmt, thumbnail=thumbnail), picture.width, picture.height, fmt)

    main = sibling(*rendered.main, thumbnail=False)
    return [main, *(sibling(plan, picture, thumbnail=True) for plan, picture in rendered.thumbnails.result())]


def render_upright(
    image: Image.Image, scale: Scale, plan: Plan, upright: tuple[int, int], orientation: int, finish: Finish
) -> Image.Image:
    """Resample in the stored orientation (plan mapped there), finish colour and alpha, then turn upright."""
    size = upright_size(*plan.size, orientation)
    stored_plan = Plan(plan.name, size, box_to_stored(plan.box, upright, orientation))
    resampled = resize(image, stored_plan, scale)
    return orient(finish(resampled), orientation)


def draft(image: Image.Image, scale: float) -> Reduction:
    """A JPEG not yet loaded: decode it at the smallest DCT scale (1/8, 1/4, 3/8, 1/2) that is at least `scale`;
    returns that scale ((1, 1) without scaling)."""
    if 1 / 4 < scale <= 3 / 8 and decode.draft_three_eighths(image):
        return 3, 8
    if scale < 0.5:
        width, height = image.size
        drafted = image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
        if drafted:  # its box is the whole source in drafted pixels: width / divisor
            return 1, round(width / drafted[1][2])
    return 1, 1


def shrink(image: Image.Image, stored: tuple[int, int], needed: float) -> tuple[Image.Image, int]:
    """Box-reduce by an integer factor while every rendition keeps >= REDUCE_GAP x its pixels (`needed`: the
    largest output/source ratio; `stored`: the source's size as stored), so the final Lanczos stays exact-looking
    and colour conversion works on far fewer pixels (premultiplied for alpha)."""
    factor = int(min(image.width / (stored[0] * needed), image.height / (stored[1] * needed)) / REDUCE_GAP)
    return (image.reduce(factor), factor) if factor >= 2 else (image, 1)


def working_scale(image: Image.Image, stored: tuple[int, int], reduction: Reduction) -> Scale:
    """Source pixels -> working pixels. DCT scaling and reduce() both round the size up with a partial last
    block, so the exact map is the reduction itself, not working size / source size (that stretches the image
    by up to a pixel, which costs measurable sharpness). Any other size falls back to the ratio."""
    numerator, denominator = reduction
    if image.size == tuple(-(-side * numerator // denominator) for side in stored):  # integer ceil: exact
        return numerator / denominator, numerator / denominator
    return image.width / stored[0], image.height / stored[1]


def resize(
    image: Image.Image, plan: Plan, scale: tuple[float, float], reducing_gap: float | None = None
) -> Image.Image:
    """Lanczos from the (possibly DCT-reduced) working image; `scale` maps source pixels to working pixels.
    `reducing_gap`: box-reduce by an integer factor first while the result keeps that many times the output's
    pixels (Pillow's own two-step resize)."""
    left, top, right, bottom = plan.box
    box = (left * scale[0], top * scale[1], right * scale[0], bottom * scale[1])
    if plan.size == image.size and box == (0, 0, image.width, image.height):
        return image
    return image.resize(plan.size, RESAMPLE, box=box, reducing_gap=reducing_gap)


def encode(
    image: Image.Image, name: str, quality: int | None, config: PipelineConfig, options: JpegOptions
) -> Rendition:
    data, used = encode_jpeg(
        image, quality=quality, target=config.quality_target, encoder=config.encoder, options=options
    )
    return Rendition(name, data, image.width, image.height, quality=used)
