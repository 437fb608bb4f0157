"""Encoder variants on the same finished pixels: bytes and SSIMULACRA2 against the seed's q85 output.

For each image (the bench images plus the Kodak set), the pipeline renders every rendition once; each variant
then encodes those pixels. Totals are over all images: bytes vs the seed's, mean and worst per-image score
difference vs the seed's, and the encode time per image (one run each). Called by `make bench` (bench.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.baselines import CONFIG, QUALITY, seed
from benchmarks.quality import score
from image_optimizer import encode, pipeline

Pictures = list[tuple[pipeline.Plan, Image.Image]]


def _jpegs(config_changes: dict[str, Any]) -> Callable[[Pictures], list[bytes]]:
    config = replace(CONFIG, **config_changes)
    return lambda pictures: [rendition.data for rendition in pipeline.encode_all(pictures, config)]


def _extra(fmt: str) -> Callable[[Pictures], list[bytes]]:
    return lambda pictures: [encode.encode_extra(picture, fmt) for _, picture in pictures]


DEFAULT = "ours (per-image quality)"
# name -> encoder of all renditions (main first); DEFAULT is the default settings.
ENCODERS: dict[str, Callable[[Pictures], list[bytes]]] = {
    "pillow q85": _jpegs({"encoder": "pillow", "quality": QUALITY}),
    "jpegli q85": _jpegs({"quality": QUALITY}),
    DEFAULT: _jpegs({}),
    "webp": _extra("webp"),
    "avif": _extra("avif"),
}


def kodak_images(corpus: Path) -> list[Path]:
    return sorted((corpus / "08_kodak").glob("*.png"))


def measure(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    pictures = pipeline.render(data, CONFIG).pictures
    crops = [False] + [spec.fit == "crop" for spec in CONFIG.thumbnails]
    variants: dict[str, Any] = {}
    outputs = {"seed": seed(data)}
    for name, encoder in ENCODERS.items():
        started = time.perf_counter()  # one run: the pipeline's own timing is the interleaved bench above
        outputs[name] = encoder(pictures)
        variants[name] = {"encode_ms": round((time.perf_counter() - started) * 1000, 1)}
    for name, parts in outputs.items():
        variants.setdefault(name, {})
        variants[name]["bytes"] = [len(part) for part in parts]
        variants[name]["ssimulacra2"] = [
            round(score(data, part, crop=crop), 2) for part, crop in zip(parts, crops, strict=True)
        ]
    return {"image": path.name, "variants": variants}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant and rendition: total bytes vs the seed (%), mean and worst score difference vs the seed."""
    names = ["main", *(spec.name for spec in CONFIG.thumbnails)]
    summary: dict[str, Any] = {}
    for variant in rows[0]["variants"]:
        if variant == "seed":
            continue
        per_rendition = {}
        for index, rendition in enumerate(names):
            seed_bytes = sum(row["variants"]["seed"]["bytes"][index] for row in rows)
            ours = sum(row["variants"][variant]["bytes"][index] for row in rows)
            differences = [
                row["variants"][variant]["ssimulacra2"][index] - row["variants"]["seed"]["ssimulacra2"][index]
                for row in rows
            ]
            default_jpeg = sum(row["variants"][DEFAULT]["bytes"][index] for row in rows)
            per_rendition[rendition] = {
                "bytes_vs_seed_pct": round((ours / seed_bytes - 1) * 100, 1),
                "bytes_vs_ours_pct": round((ours / default_jpeg - 1) * 100, 1),
                "mean_ssimulacra2_vs_seed": round(statistics.mean(differences), 2),
                "worst_ssimulacra2_vs_seed": round(min(differences), 2),
            }
        per_rendition["encode_ms_median"] = statistics.median(row["variants"][variant]["encode_ms"] for row in rows)
        summary[variant] = per_rendition
    return summary


def print_summary(summary: dict[str, Any], images: int) -> None:
    print(f"\nencoders over {images} images: bytes vs the seed's q85, SSIMULACRA2 mean / worst vs the seed's")
    print(f"{'variant':26} {'rendition':>9} {'bytes':>8} {'mean':>6} {'worst':>6} {'encode ms':>10} {'vs ours':>8}")
    for variant, renditions in summary.items():
        for rendition, figures in renditions.items():
            if rendition == "encode_ms_median":
                continue
            print(
                f"{variant:26} {rendition:>9} {figures['bytes_vs_seed_pct']:+7.1f}%"
                f" {figures['mean_ssimulacra2_vs_seed']:+6.2f} {figures['worst_ssimulacra2_vs_seed']:+6.2f}"
                f" {renditions['encode_ms_median']:10.1f} {figures['bytes_vs_ours_pct']:+7.1f}%"
            )
