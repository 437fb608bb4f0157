"""Encoder variants on the same finished pixels: bytes and SSIMULACRA2 against the seed's q85 output.

For each image (the bench images plus the Kodak set), the pipeline renders every rendition once; each variant
then encodes those pixels. Mains are scored for every variant, thumbnails for the seed, the JPEG encoders
that decide the choice and the WebP/AVIF siblings (THUMBNAILS_SCORED); scoring runs in one process per CPU.
Totals are over all images: bytes vs the seed's, mean and worst per-image score difference vs the seed's, and
the encode time per image (one run each). Called by `make bench` (bench.py).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.baselines import CONFIG, QUALITY, SHAPES, seed
from benchmarks.quality import ScoreCache, score_all
from image_optimizer.imaging import pipeline
from image_optimizer.imaging.encode import MAIN_JPEG, THUMBNAIL_JPEG


def _jpegs(config_changes: dict[str, Any], *, subsampled: bool = True) -> Callable[[pipeline.Rendered], list[bytes]]:
    config = replace(CONFIG, **config_changes)
    jpeg = (replace(MAIN_JPEG, subsampled=subsampled), replace(THUMBNAIL_JPEG, subsampled=subsampled))
    return lambda rendered: [rendition.data for rendition in pipeline.encode_all(rendered, config, jpeg=jpeg)]


def _extra(fmt: str) -> Callable[[pipeline.Rendered], list[bytes]]:
    return lambda rendered: [sibling.data for sibling in pipeline.encode_siblings(rendered, fmt)]


DEFAULT = "ours (per-image quality)"
FULL_CHROMA = "ours 4:4:4"
# name -> encoder of all renditions (main first); DEFAULT is the default settings.
ENCODERS: dict[str, Callable[[pipeline.Rendered], list[bytes]]] = {
    "pillow q85": _jpegs({"encoder": "pillow", "quality": QUALITY}),
    "jpegli q85": _jpegs({"quality": QUALITY}),
    DEFAULT: _jpegs({}),
    FULL_CHROMA: _jpegs({}, subsampled=False),  # the default settings with 4:4:4 chroma
    "webp": _extra("webp"),
    "avif": _extra("avif"),
}


def kodak_images(corpus: Path) -> list[Path]:
    return sorted((corpus / "08_kodak").glob("*.png"))


# Thumbnails are scored for the variants that matter for the choice and for the siblings; every variant's
# main is scored.
THUMBNAILS_SCORED = ("seed", "pillow q85", DEFAULT, FULL_CHROMA, "webp", "avif")


def encode_variants(path: Path) -> dict[str, list[bytes]]:
    """Every variant's outputs for one image, each encoder timed once (the pipeline's own timing is the
    interleaved bench): the returned dict also holds "encode_ms" per variant."""
    data = path.read_bytes()
    rendered = pipeline.render(data, CONFIG)
    outputs: dict[str, Any] = {"seed": seed(data), "encode_ms": {}}
    for name, encoder in ENCODERS.items():
        started = time.perf_counter()
        outputs[name] = encoder(rendered)
        outputs["encode_ms"][name] = round((time.perf_counter() - started) * 1000, 1)
    return outputs


def measure_all(paths: list[Path], cache: ScoreCache) -> list[dict[str, Any]]:
    """Encoding runs here, one image after another; scoring (the slow part) in one process per CPU."""
    encoded, jobs, slots = [], [], []
    for image_index, path in enumerate(paths):
        outputs = encode_variants(path)
        encoded.append(outputs)
        for name, parts in outputs.items():
            if name == "encode_ms":
                continue
            for index, (part, (_, crop)) in enumerate(zip(parts, SHAPES, strict=True)):
                if index == 0 or name in THUMBNAILS_SCORED:
                    jobs.append((path, part, crop))
                    slots.append((image_index, name, index))
        print(f"  encoders: {path.name}", file=sys.stderr, flush=True)
    scored: list[dict[str, list[float | None]]] = [
        {name: [None] * len(parts) for name, parts in outputs.items() if name != "encode_ms"} for outputs in encoded
    ]
    for (image_index, name, index), value in zip(slots, score_all(jobs, cache), strict=True):
        scored[image_index][name][index] = value
    rows = []
    for path, outputs, scores in zip(paths, encoded, scored, strict=True):
        variants = {
            name: {
                "bytes": [len(part) for part in outputs[name]],
                "ssimulacra2": scores[name],
                **({"encode_ms": outputs["encode_ms"][name]} if name in outputs["encode_ms"] else {}),
            }
            for name in scores
        }
        rows.append({"image": path.name, "variants": variants})
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant and rendition: total bytes vs the seed (%), mean and worst score difference vs the seed."""
    names = [name for name, _ in SHAPES]
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
                if row["variants"][variant]["ssimulacra2"][index] is not None
            ]
            default_jpeg = sum(row["variants"][DEFAULT]["bytes"][index] for row in rows)
            per_rendition[rendition] = {
                "bytes_vs_seed_pct": round((ours / seed_bytes - 1) * 100, 1),
                "bytes_vs_ours_pct": round((ours / default_jpeg - 1) * 100, 1),
                "mean_ssimulacra2_vs_seed": round(statistics.mean(differences), 2) if differences else None,
                "worst_ssimulacra2_vs_seed": round(min(differences), 2) if differences else None,
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
            mean, worst = figures["mean_ssimulacra2_vs_seed"], figures["worst_ssimulacra2_vs_seed"]
            print(
                f"{variant:26} {rendition:>9} {figures['bytes_vs_seed_pct']:+7.1f}%"
                f" {'n/a' if mean is None else f'{mean:+6.2f}':>6} {'n/a' if worst is None else f'{worst:+6.2f}':>6}"
                f" {renditions['encode_ms_median']:10.1f} {figures['bytes_vs_ours_pct']:+7.1f}%"
            )
