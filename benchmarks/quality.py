"""Output quality: SSIMULACRA2 of a main rendition against a Lanczos reference of the same size."""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
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


class Reference:
    """SSIMULACRA2 (the `ssimulacra2` package's computation, step for step) with the reference's half done
    once: its XYB planes, blurred means and variances at every scale. Scoring many outputs against one
    reference then costs about 40 % less, with the same result to the last bit (tests/unit/test_bench_quality.py)."""

    def __init__(self, reference: Image.Image) -> None:
        from ssimulacra2 import ssimulacra2 as metric

        self._metric = metric
        linear = metric.srgb_to_linear(np.asarray(reference.convert("RGB"), dtype=np.float64))
        self.size = reference.size
        self._scales = []
        for scale in range(metric.kNumScales):
            planes = metric.make_positive_xyb(metric.linear_rgb_to_xyb(linear))
            if planes.shape[0] < 8 or planes.shape[1] < 8:
                break
            self._scales.append((planes, metric.blur_image(planes * planes), metric.blur_image(planes)))
            if scale < metric.kNumScales - 1:
                linear = metric.downsample(linear, 2, 2)

    def score(self, output: Image.Image) -> float:
        metric = self._metric
        if output.size != self.size:
            raise ValueError(f"output {output.size} is not the reference's {self.size}")
        linear = metric.srgb_to_linear(np.asarray(output.convert("RGB"), dtype=np.float64))
        total = metric.Msssim()
        for scale, (planes, variance, mean) in enumerate(self._scales):
            other = metric.make_positive_xyb(metric.linear_rgb_to_xyb(linear))
            other_mean = metric.blur_image(other)
            figures = metric.MsssimScale()
            figures.avg_ssim = metric.ssim_map(
                mean, other_mean, variance, metric.blur_image(other * other), metric.blur_image(planes * other)
            )
            figures.avg_edgediff = metric.edge_diff_map(planes, mean, other, other_mean)
            total.scales.append(figures)
            if scale < metric.kNumScales - 1:
                linear = metric.downsample(linear, 2, 2)
        return float(total.score())


@lru_cache(maxsize=4)
def reference(source: bytes, size: tuple[int, int], crop: bool) -> Reference:
    """The Lanczos reference of one output shape, shared by every variant scored at that shape."""
    full = reference_source(source)
    if crop:
        return Reference(ImageOps.fit(full, size, Image.Resampling.LANCZOS))
    return Reference(full.resize(size, Image.Resampling.LANCZOS))


def score(source: bytes, output: bytes, *, crop: bool = False) -> float:
    """`crop`: the output is a centred crop of the source (a crop thumbnail), so the reference is one too."""
    decoded = Image.open(io.BytesIO(output)).convert("RGB")
    return reference(source, decoded.size, crop).score(decoded)


ScoreJob = tuple[Path, bytes, bool]  # source file, output to score, whether the output is a centred crop
ScoreCache = dict[tuple[str, str, bool], float]


def score_all(jobs: list[ScoreJob], cache: ScoreCache) -> list[float]:
    """The score of every job, in order. One process per CPU and one task per source image (its references are
    built once per task); an output already in `cache` (the same bytes of the same source, from an earlier
    call) is not scored again."""
    keys = [(str(path), hashlib.sha1(output).hexdigest(), crop) for path, output, crop in jobs]
    pending: dict[str, dict[tuple[str, bool], bytes]] = {}
    for (path, digest, crop), (_, output, _) in zip(keys, jobs, strict=True):
        if (path, digest, crop) not in cache:
            pending.setdefault(path, {})[(digest, crop)] = output
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        for path, scores in zip(pending, pool.map(_score_outputs, pending.items()), strict=True):
            for (digest, crop), value in scores.items():
                cache[(path, digest, crop)] = value
    return [cache[key] for key in keys]


def _score_outputs(task: tuple[str, dict[tuple[str, bool], bytes]]) -> dict[tuple[str, bool], float]:
    path, outputs = task
    source = Path(path).read_bytes()
    return {key: round(score(source, output, crop=key[1]), 2) for key, output in outputs.items()}
