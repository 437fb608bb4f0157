"""Pure pipeline: bytes (or a file still arriving) in, JPEG renditions out. No AWS, no environment.

The steps, in order (each a small function below):
  open + guard pixels -> plan sizes (layout.py) -> DCT-scaled decode (JPEG) -> 8-bit -> integer pre-shrink
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
from dataclasses import dataclass, replace
from typing import IO, ParamSpec, TypeVar

from PIL import Image

from . import color, decode
from .encode import MAIN_JPEG, THUMBNAIL_JPEG, JpegOptions, encode_extra, encode_jpeg, thumbnail_quality
from .layout import Plan, box_to_stored, lay_out, needed_scale, orient, upright_size
from .specs import PipelineConfig

Scale = tuple[float, float]
Picture = tuple[Plan, Image.Image]
Reduction = tuple[int, int]  # working pixels per source pixel, as a fraction: (3, 8) for a 3/8 DCT scale

# Integer box reduction stops at 1.5x the final size (Pillow's thumbnail() stops at 2x): on HEIC/AVIF it saves
# ~7 % of the time for <= 0.33 SSIMULACRA2 points, measured once reduce() is mapped exactly (working_scale).
REDUCE_GAP = 1.5
THUMBNAIL_FROM_MAIN_GAP = 2.0  # a thumbnail is resampled from the main image when that has 2x its pixels
# Thumbnails from the main image are box-reduced first while they keep 2x their pixels (Pillow's thumbnail() does
# the same): about 3 of the 10 ms those two resizes took on portrait photos, scores alike (bench + Kodak: crop
# thumbnail mean +4.40 / worst +0.03 against the seed's, was +4.46 / +0.17; the 320 px fit ones unchanged). 1.5
# would save 7 ms but cost the hardest fit thumbnail half a point (worst -1.91 against the seed's).
THUMBNAIL_REDUCING_GAP = 2.0
# Lanczos: bicubic was measured at about a fifth less JPEG time for up to 2.6 SSIMULACRA2 points less.
RESAMPLE = Image.Resampling.LANCZOS
DRAFT_GAP = 1.3  # DCT-scaled JPEG decoding keeps 1.3x the largest rendition: 1.0 visibly softens some photos


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

    @property
    def main(self) -> Rendition:
        return self.renditions[0]


def optimize(data: bytes | IO[bytes], config: PipelineConfig | None = None) -> OptimizedImage:
    """Turn an uploaded file into JPEG renditions (main first), or raise an ImageRejected subclass. `data` may be
    a seekable file still being received: decoding reads it as it arrives."""
    config = config or PipelineConfig()
    with workers(config.threads) as pool:
        rendered = render(data, config, pool)
        return OptimizedImage(encode_all(rendered, config, pool=pool), rendered.format, *rendered.upright)


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

    def finish(resampled: Image.Image) -> Image.Image:
        """Colour and alpha on the resampled pixels, not the large working image: a fraction of the work.
        Pillow resamples RGBA premultiplied, so flattening afterwards leaves no dark fringes."""
        return color.flatten(color.to_srgb(resampled, icc), config.background, grayscale=grayscale)

    main, thumbnails = render_all(image, scale, plans, upright, orientation, finish, pool or Serial())
    return Rendered(main, thumbnails, decoded.format, upright)


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
    (transposing the small result is cheaper); the thumbnails, as one task on `pool`. Each thumbnail is resampled
    from the main image when that still has enough pixels for it, a fraction of the work of resampling the large
    working image again. One task, not one each: they share `finish`'s ImageCms transform, which is not safe to
    run on two threads at once (LittleCMS caches its last pixel in it)."""
    main_plan, *thumbnail_plans = plans
    main = render_upright(image, scale, main_plan, upright, orientation, finish)

    main_scale = (main.width / upright[0], main.height / upright[1])  # source pixels -> main pixels

    def thumbnails() -> list[Picture]:
        finished = []
        for plan in thumbnail_plans:
            if THUMBNAIL_FROM_MAIN_GAP * needed_scale([plan]) <= main_scale[0]:
                thumbnail = resize(main, plan, main_scale, THUMBNAIL_REDUCING_GAP)
            else:
                thumbnail = render_upright(image, scale, plan, upright, orientation, finish)
            finished.append((plan, thumbnail))
        return finished

    return (main_plan, main), pool.submit(thumbnails)


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
