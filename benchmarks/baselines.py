"""The references `make bench` measures this project against, each doing the same renditions.

- seed: the approach this project replaced, reimplemented faithfully: full decode -> copy() ->
  exif_transpose -> thumbnail -> save (q85, no other options).
- vips: libvips (pyvips) the way its docs write a thumbnailer: `thumbnail_buffer` once, to the main size
  (shrink-on-load), `export_profile="srgb"` only when the source carries an ICC profile, flatten, `copy_memory()`,
  then each thumbnail from that main with `thumbnail_image` (`crop="centre"` for crop specs); q85, progressive
  main, optimised Huffman tables, `keep="none"`. One libvips thread (`concurrency_set(1)`) and
  no operation cache, as this pipeline runs on one thread and never sees the same upload twice.
- floor: the source decoded alone at the smallest DCT scale that still covers the main rendition.
- least: the least work that still writes the renditions, as a bound on what any pipeline built on Pillow can
  reach: the floor's decode, then this pipeline's geometry (integer pre-shrink, Lanczos, thumbnails from the
  main, orientation, alpha flattened) and nothing else: no colour management, no quality search, libjpeg-turbo
  baseline at q85 without Huffman optimisation.
- ours-pillow: this pipeline with JPEG_ENCODER=pillow, fixed q85 (the encoder before jpegli).
- ours-2threads: this pipeline with PIPELINE_THREADS=2 (a function of 2,654 MB or more): the same bytes as ours.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import Any

from PIL import Image, ImageOps

from image_optimizer.imaging import decode
from image_optimizer.specs import PipelineConfig, parse_thumbnails

# The default settings with the centre crop: libvips and the seed crop the centre, and each thumbnail is scored
# against a centred reference (where a smart crop goes is benchmarks/crops.py's measurement).
CONFIG = PipelineConfig(thumbnails=parse_thumbnails("thumb:150x150:crop,small:320x320:fit"))
QUALITY = 85  # the seed's fixed quality; libvips gets the same
# (rendition, is a centred crop) in output order: every variant writes main, then the thumbnails in THUMBNAILS order
SHAPES = [("main", False)] + [(spec.name, spec.fit == "crop") for spec in CONFIG.thumbnails]
TALL = 10_000_000


def _open(data: bytes) -> Image.Image:
    """Lazily opened, the project's way (format sniffed, its one decoder, HEIF opener registered on demand)."""
    return decode.open_image(data, max_pixels=CONFIG.max_pixels).image


def seed(data: bytes) -> list[bytes]:
    image = _open(data)
    image = image.copy()  # full decode
    image = ImageOps.exif_transpose(image)
    outputs = []
    boxes = [(CONFIG.max_width, TALL, False)] + [(t.width, t.height, t.fit == "crop") for t in CONFIG.thumbnails]
    for width, height, crop in boxes:
        copy = ImageOps.fit(image, (width, height)) if crop else image.copy()
        if not crop:
            copy.thumbnail((width, height))
        buffer = io.BytesIO()
        copy.convert("RGB").save(buffer, "JPEG", quality=QUALITY)
        outputs.append(buffer.getvalue())
    return outputs


def vips(data: bytes) -> list[bytes]:
    """libvips as its own docs write a thumbnailer: one shrink-on-load decode to the main size, sRGB only when
    the source carries a profile (libvips otherwise assumes sRGB, as this pipeline does), flatten, then the
    thumbnails from that main image in memory."""
    main = vips_main(data)
    return [vips_encode_main(main), *vips_thumbnails(main)]


def vips_main(data: bytes) -> Any:
    """The decoded, resampled, sRGB, flattened main image in memory (one streamed libvips pass)."""
    pyvips = pyvips_one_thread()
    icc = {"export_profile": "srgb"} if _has_icc(pyvips.Image.new_from_buffer(data, "")) else {}
    main = pyvips.Image.thumbnail_buffer(data, CONFIG.max_width, height=TALL, size="down", **icc)
    if main.hasalpha():
        main = main.flatten(background=[255, 255, 255])
    return main.copy_memory()


def vips_encode_main(main: Any) -> bytes:
    return bytes(main.jpegsave_buffer(Q=QUALITY, optimize_coding=True, interlace=True, keep="none"))


def vips_thumbnails(main: Any) -> list[bytes]:
    outputs = []
    for spec in CONFIG.thumbnails:
        crop = "centre" if spec.fit == "crop" else "none"
        thumbnail = main.thumbnail_image(spec.width, height=spec.height, size="down", crop=crop)
        outputs.append(bytes(thumbnail.jpegsave_buffer(Q=QUALITY, optimize_coding=True, keep="none")))
    return outputs


@lru_cache(maxsize=1)
def pyvips_one_thread() -> Any:
    """pyvips on one libvips thread, without its operation cache (a repeated call would reuse its last result):
    every libvips figure of the benchmarks, the crop methods' included."""
    import pyvips

    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)
    return pyvips


def _has_icc(header: Any) -> bool:
    return bool(header.get_typeof("icc-profile-data"))


def floor(data: bytes) -> list[bytes]:
    image = _open(data)
    _draft_as_floor(image)
    image.load()
    return []


def _draft_as_floor(image: Image.Image) -> tuple[int, int]:
    """A JPEG: the smallest DCT scale that covers the main, chosen as the pipeline chooses (3/8 included), with
    no gap; returns the scale as pipeline.draft() does."""
    from image_optimizer.imaging.pipeline import draft

    if image.format not in ("JPEG", "MPO"):
        return 1, 1
    orientation = image.getexif().get(0x0112, 1)
    width, height = image.size
    upright_width = height if orientation in (5, 6, 7, 8) else width
    return draft(image, min(1.0, CONFIG.max_width / upright_width))


def least(data: bytes) -> list[bytes]:
    from image_optimizer.imaging import color
    from image_optimizer.imaging.encode import pillow_jpeg
    from image_optimizer.imaging.layout import lay_out, needed_scale
    from image_optimizer.imaging.pipeline import Serial, render_all, shrink, working_scale

    def flattened(picture: Image.Image) -> Image.Image:  # a photo has no alpha: no work
        return color.flatten(picture, CONFIG.background, grayscale=False)

    decoded = decode.open_image(data, max_pixels=CONFIG.max_pixels)
    reduction = _draft_as_floor(decoded.image)
    image = color.to_8bit(decode.load(decoded))
    image = image if image.mode in ("RGB", "L", "RGBA", "LA") else image.convert("RGB")  # CMYK
    layout = lay_out(decoded, image, CONFIG)
    stored = (decoded.width, decoded.height)
    image, factor = shrink(image, stored, needed_scale(layout.plans))
    scale = working_scale(image, stored, (reduction[0], reduction[1] * factor))
    main, thumbnails = render_all(image, scale, layout.plans, layout.upright, layout.orientation, flattened, Serial())
    return [
        pillow_jpeg(picture, QUALITY, progressive=False, optimize=False) for _, picture in [main, *thumbnails.result()]
    ]


def _ours(config: PipelineConfig) -> Callable[[bytes], list[bytes]]:
    """This pipeline with `config`."""

    def run(data: bytes) -> list[bytes]:
        from image_optimizer.imaging.pipeline import optimize

        return [rendition.data for rendition in optimize(data, config).renditions]

    return run


VARIANTS: dict[str, Callable[[bytes], list[bytes]]] = {
    "ours": _ours(CONFIG),
    "ours-2threads": _ours(replace(CONFIG, threads=2)),  # PIPELINE_THREADS=2
    "ours-pillow": _ours(replace(CONFIG, encoder="pillow", quality=QUALITY)),  # JPEG_ENCODER=pillow, fixed q85
    "seed": seed,
    "vips": vips,
    "floor": floor,
    "least": least,
}
