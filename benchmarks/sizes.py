"""The size sweep of `make bench`: the bench photos downscaled to 0.5-8 MP, and small real uploads.

Large photos hide a fixed cost (the quality search, three encodes) that small uploads do not: resized phone
photos, web images, screenshots. Each bench JPEG photo is downscaled (Lanczos, never upscaled) to every size in
SWEEP_MEGAPIXELS and re-encoded as a JPEG at q92 with its EXIF (so orientation still applies) and ICC profile;
SMALL_UPLOADS adds corpus files as they are. Per input, interleaved: this pipeline, the seed approach, fair
libvips and the floor (baselines.py); per class, the median of the per-input time ratios, and the main images'
bytes and SSIMULACRA2 side by side.
"""

from __future__ import annotations

import io
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.baselines import VARIANTS
from benchmarks.quality import ScoreCache, score_all
from benchmarks.timing import time_variants, usable_variants

SWEEP_MEGAPIXELS = (0.5, 1, 2, 4, 8)
SWEEP_QUALITY = 92
SWEEP_VARIANTS = ("ours", "seed", "vips", "floor", "least")
SCORED = ("ours", "seed", "vips")
# class -> corpus files (relative to CORPUS_DIR), uploaded as they are
SMALL_UPLOADS = {
    "graphics (PNG, GIF)": [
        "04_png/png_rgba_blackbug_2048x1536.png",
        "04_png/png_1bit_palette_1bit.png",
        "04_png/png_la_8bit_400x300.png",
        "04_png/png_palette_trns_300x225.png",
        "04_png/png_rgba_transparent_200x150.png",
        "05_gif_webp_tiff_bmp/gif_static_crash_test_800x533.gif",
    ],
    "small photos (JPEG, WebP, PNG)": [
        "03_icc_color/gray_jpeg_no_icc_800x533.jpg",
        "03_icc_color/icc_p3_d65_color_ring.jpg",
        "03_icc_color/cmyk_ycck_no_icc.jpg",
        "05_gif_webp_tiff_bmp/webp_lossy_photo_1024x772.webp",
        "08_kodak/kodim01.png",
        "08_kodak/kodim02.png",
    ],
}


def size_class(megapixels: float) -> str:
    return f"{megapixels:g} MP"


def downscaled(image: Image.Image, megapixels: float) -> bytes | None:
    """`image` at `megapixels` (Lanczos), re-encoded at SWEEP_QUALITY with its EXIF and ICC profile; None when
    that would not be smaller than the source."""
    scale = math.sqrt(megapixels * 1e6 / (image.width * image.height))
    if scale >= 1:
        return None
    extras = {key: image.info[key] for key in ("exif", "icc_profile") if image.info.get(key)}
    resized = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    resized.save(buffer, "JPEG", quality=SWEEP_QUALITY, **extras)
    return buffer.getvalue()


def sweep_inputs(photos: list[Path], corpus: Path | None, into: Path) -> list[tuple[str, Path]]:
    """(class, file) for every input, class by class, the downscaled photos written into `into` (scoring reads
    sources from files); SMALL_UPLOADS from `corpus` unless it is None (a BENCH_DIR of the user's own). Each photo
    is decoded once, for every size."""
    by_size: dict[float, list[tuple[str, Path]]] = {megapixels: [] for megapixels in SWEEP_MEGAPIXELS}
    for photo in photos:
        with Image.open(photo) as image:
            image.load()
            for megapixels in SWEEP_MEGAPIXELS:
                data = downscaled(image, megapixels)
                if data is not None:
                    path = into / f"{photo.stem}_{megapixels:g}mp.jpg"
                    path.write_bytes(data)
                    by_size[megapixels].append((size_class(megapixels), path))
    inputs = [item for megapixels in SWEEP_MEGAPIXELS for item in by_size[megapixels]]
    for name, files in SMALL_UPLOADS.items():
        found = [corpus / file for file in files] if corpus else []
        inputs += [(name, path) for path in found if path.is_file()]
    return inputs


def measure(inputs: list[tuple[str, Path]], reps: int, cache: ScoreCache) -> list[dict[str, Any]]:
    variants = {name: VARIANTS[name] for name in SWEEP_VARIANTS}
    rows: list[dict[str, Any]] = []
    outputs: list[dict[str, bytes]] = []
    for size, path in inputs:
        data = path.read_bytes()
        usable, produced = usable_variants(data, variants)
        medians = time_variants(data, reps, usable)
        header = Image.open(path)
        rows.append(
            {
                "class": size,
                "image": path.name,
                "megapixels": round(header.width * header.height / 1e6, 2),
                "ms": {name: round(medians[name] * 1000, 2) if name in medians else None for name in variants},
                "main_bytes": {name: len(produced[name][0]) for name in SCORED if name in produced},
            }
        )
        outputs.append({name: produced[name][0] for name in SCORED if name in produced})
        print(f"  {path.name}: ours {rows[-1]['ms']['ours']} ms", file=sys.stderr, flush=True)
    jobs = [(path, main, False) for (_, path), mains in zip(inputs, outputs, strict=True) for main in mains.values()]
    scores = iter(score_all(jobs, cache))
    for row, mains in zip(rows, outputs, strict=True):
        row["ssimulacra2"] = {name: next(scores) for name in mains}
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per class: median per-input time ratios, total main bytes against the seed's, mean score difference."""
    summary: dict[str, dict[str, Any]] = {}
    for size in dict.fromkeys(row["class"] for row in rows):
        members = [row for row in rows if row["class"] == size]

        def ratio(other: str, members: list[dict[str, Any]] = members, ours: str = "ours") -> float | None:
            values = [row["ms"][ours] / row["ms"][other] for row in members if row["ms"][ours] and row["ms"][other]]
            return round(float(statistics.median(values)), 3) if values else None

        def bytes_vs_seed(name: str, members: list[dict[str, Any]] = members) -> float | None:
            scored = [row for row in members if name in row["main_bytes"]]
            if not scored:
                return None
            total = sum(row["main_bytes"][name] for row in scored)
            return round(100 * (total / sum(row["main_bytes"]["seed"] for row in scored) - 1), 1)

        def score_vs_seed(name: str, members: list[dict[str, Any]] = members) -> float | None:
            values = [
                row["ssimulacra2"][name] - row["ssimulacra2"]["seed"] for row in members if name in row["ssimulacra2"]
            ]
            return round(float(statistics.mean(values)), 2) if values else None

        summary[size] = {
            "images": len(members),
            "ours ms median": round(statistics.median(row["ms"]["ours"] for row in members), 1),
            "ours/seed": ratio("seed"),
            "ours/vips": ratio("vips"),
            "ours/floor": ratio("floor"),
            # the bound: the least work that writes the renditions with Pillow (baselines.least)
            "least/seed": ratio("seed", ours="least"),
            "least/vips": ratio("vips", ours="least"),
            "main bytes vs seed % (ours, vips)": [bytes_vs_seed("ours"), bytes_vs_seed("vips")],
            "main ssimulacra2 vs seed (ours, vips)": [score_vs_seed("ours"), score_vs_seed("vips")],
        }
    return summary


def print_summary(summary: dict[str, dict[str, Any]]) -> None:
    print(
        f"\nsize sweep (median per-input ratios; main bytes and SSIMULACRA2 against the seed's):\n"
        f"  {'class':32} {'n':>3} {'ours ms':>8} {'/seed':>6} {'/vips':>6} {'/floor':>7}"
        f" {'least/seed':>10} {'least/vips':>10} {'bytes ours/vips':>16} {'SSIM2 ours/vips':>16}"
    )
    for size, figures in summary.items():
        ours_bytes, vips_bytes = figures["main bytes vs seed % (ours, vips)"]
        ours_score, vips_score = figures["main ssimulacra2 vs seed (ours, vips)"]
        print(
            f"  {size:32} {figures['images']:3} {figures['ours ms median']:8.1f} {_cell(figures['ours/seed'])}"
            f" {_cell(figures['ours/vips'])} {_cell(figures['ours/floor'], 7)}"
            f" {_cell(figures['least/seed'], 10)} {_cell(figures['least/vips'], 10)}"
            f" {_pct(ours_bytes)}/{_pct(vips_bytes)} {_signed(ours_score)}/{_signed(vips_score)}"
        )


def _cell(value: float | None, width: int = 6) -> str:
    return f"{value:{width}.2f}" if value is not None else f"{'n/a':>{width}}"


def _pct(value: float | None) -> str:
    return f"{value:+7.1f}%" if value is not None else f"{'n/a':>8}"


def _signed(value: float | None) -> str:
    return f"{value:+7.2f}" if value is not None else f"{'n/a':>7}"
