"""Output quality: SSIMULACRA2 of a main rendition against a Lanczos reference of the same size."""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageCms, ImageOps


@lru_cache(maxsize=4)
def reference_source(data: bytes) -> Image.Image:
    """Full decode, upright, sRGB, flattened onto white: what every variant should look like."""
    from benchmarks.baselines import _open

    image = _open(data)
    image.load()
    icc = image.info.get("icc_profile")
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    image = image.convert("RGB") if image.mode != "CMYK" else image
    if icc:
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            srgb,
            outputMode="RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
        image = converted if converted is not None else image
    return image.convert("RGB")


@lru_cache(maxsize=8)
def reference_png(source: bytes, size: tuple[int, int], crop: bool) -> bytes:
    """The Lanczos reference of one output shape, shared by every variant scored at that shape."""
    full = reference_source(source)
    if crop:
        reference = ImageOps.fit(full, size, Image.Resampling.LANCZOS)
    else:
        reference = full.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    reference.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def score(source: bytes, output: bytes, *, crop: bool = False) -> float:
    """`crop`: the output is a centred crop of the source (a crop thumbnail), so the reference is one too."""
    from ssimulacra2 import compute_ssimulacra2

    out = Image.open(io.BytesIO(output)).convert("RGB")
    out_buffer = io.BytesIO()
    out.save(out_buffer, "PNG", compress_level=1)
    out_buffer.seek(0)
    return float(compute_ssimulacra2(io.BytesIO(reference_png(source, out.size, crop)), out_buffer))
