"""`make bench`: this project's pipeline against the seed approach, libvips and the decode floor.

For each image, interleaved in one run: a warm-up, then REPS repetitions of every variant; per-image medians,
ratios, output bytes, SSIMULACRA2 of each main rendition against a Lanczos reference of the same size, and
the peak RSS of each variant in its own process. Also the cold-start import cost, every encoder variant's
bytes and scores (benchmarks/encoders.py) and one upload end to end with its renditions written concurrently
and one at a time, and decoded as its body arrives and after (benchmarks/end_to_end.py). Writes bench.json and
prints a table. Timing lives here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import crops, encoders, sizes, stages, targets
from benchmarks.baselines import CONFIG, SHAPES, VARIANTS, pyvips_one_thread
from benchmarks.chart import svg
from benchmarks.quality import ScoreCache, score_all
from benchmarks.report import print_end_to_end, print_table
from benchmarks.timing import time_variants, usable_variants
from image_optimizer.imaging import decode
from image_optimizer.local.run import IMAGE_SUFFIXES
from image_optimizer.settings import LAMBDA_MB_PER_VCPU

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CORPUS_DIR", ROOT.parent / "shared" / "corpus"))
HEIF_AVIF_PHOTOS = [
    "heic_iphone11promax_8mp.heic",
    "heic_iphone13pro_depth_12mp.heic",
    "heic_iphone13promax_12mp_orient6.heic",
    "heic_iphone8plus_12mp_orient6.heic",
    "heic_sony_a7s3_10bit_12mp.hif",
    "avif_canon70d_20mp.avif",
    "avif_hato_8bit_6mp.avif",
    "avif_iphonexs_orient6_p3.avif",
]


HEIF_SUFFIXES = (".heic", ".heif", ".hif", ".avif")


def default_images() -> list[Path]:
    photos = sorted((CORPUS / "01_photos_large").glob("*.jpg"))
    return photos + [CORPUS / "06_heic_avif" / name for name in HEIF_AVIF_PHOTOS]


def images_from(directory: str | None) -> list[Path]:
    if not directory:
        return default_images()
    return sorted(path for path in Path(directory).rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)


def peak_rss_mb(variant: str, path: Path) -> float:
    """Run one variant once in a fresh process; VmHWM is that process's own high-water mark."""
    code = (
        "import sys, pathlib; from benchmarks.baselines import VARIANTS;"
        f"VARIANTS[{variant!r}](pathlib.Path({str(path)!r}).read_bytes());"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return int(result.stdout.strip()) / 1024


def import_cost_ms(module: str, runs: int = 10) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(times) * 1000


def bench_image(path: Path, reps: int) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
    """Timing and sizes of one image, and every variant's outputs (scored later, with the other images')."""
    data = path.read_bytes()
    variants, warm_up_outputs = usable_variants(data, VARIANTS)
    medians = time_variants(data, reps, variants)
    if warm_up_outputs["ours-2threads"] != warm_up_outputs["ours"]:
        raise RuntimeError(f"{path.name}: two threads wrote other bytes than one")
    # floor writes nothing; ours-2threads writes ours' bytes (checked above), scored once
    outputs = {name: parts for name, parts in warm_up_outputs.items() if name not in ("floor", "ours-2threads")}
    header = decode.open_image(data, max_pixels=CONFIG.max_pixels)
    row: dict[str, Any] = {
        "image": path.name,
        "bytes_in": len(data),
        "megapixels": round(header.width * header.height / 1e6, 1),
        "ms": {name: round(medians[name] * 1000, 1) if name in medians else None for name in VARIANTS},
        "ratio": {
            f"{ours}/{name}": round(medians[ours] / medians[name], 3) if name in medians else None
            for ours, names in (
                ("ours", ("vips", "seed", "floor", "least", "ours-pillow")),
                ("ours-2threads", ("vips", "floor")),
                ("least", ("floor", "vips")),
            )
            for name in names
        },
        "bytes_out": {name: sum(len(part) for part in parts) for name, parts in outputs.items()},
        "main_bytes": {name: len(parts[0]) for name, parts in outputs.items()},
    }
    return row, outputs


def add_scores(
    rows: list[dict[str, Any]], paths: list[Path], outputs: list[dict[str, list[bytes]]], cache: ScoreCache
) -> None:
    """SSIMULACRA2 of every variant's main and thumbnails, each against a reference of its own shape."""
    jobs = [
        (path, parts[index], crop)
        for path, produced in zip(paths, outputs, strict=True)
        for parts in produced.values()
        for index, (_, crop) in enumerate(SHAPES)
    ]
    scores = iter(score_all(jobs, cache))
    for row, produced in zip(rows, outputs, strict=True):
        row["ssimulacra2"], row["thumbnail_ssimulacra2"] = {}, {}
        for name in produced:
            values = {shape: next(scores) for shape, _ in SHAPES}
            row["ssimulacra2"][name] = values.pop("main")
            row["thumbnail_ssimulacra2"][name] = values


def add_peak_rss(rows: list[dict[str, Any]], paths: list[Path]) -> None:
    """Each variant on each image in a process of its own, one per CPU at a time (after the timing, which
    they would disturb): a process's high-water mark is its own."""
    jobs = [
        (row, name, path)
        for row, path in zip(rows, paths, strict=True)
        for name, ms in row["ms"].items()
        if ms is not None  # the variants that can read this file
    ]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        peaks = list(pool.map(lambda job: peak_rss_mb(job[1], job[2]), jobs))
    for row in rows:
        row["peak_rss_mb"] = dict.fromkeys(VARIANTS)
    for (row, name, _), peak in zip(jobs, peaks, strict=True):
        row["peak_rss_mb"][name] = round(peak, 1)


def measure_end_to_end(image: Path, reps: int) -> dict[str, Any]:
    """benchmarks/end_to_end.py, in a process of its own: it runs an S3 server and sets the SDK's environment."""
    command = [sys.executable, "-m", "benchmarks.end_to_end", str(image), "--reps", str(reps)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout))


# AWS Lambda, arm64, us-east-1 list price (first 6 billion GB-seconds a month) and the template's default memory.
ARM64_USD_PER_GB_SECOND = 0.0000133334
USD_PER_MILLION_REQUESTS = 0.20
MEMORY_MB = 1024


def lambda_cost_per_million(cpu_ms_on_one_core: float) -> dict[str, float]:
    """Compute cost only (no S3 requests, no transfer): the measured single-core time stretched to the CPU
    share of a 1024 MB function. S3 round trips add wall time too; they are not in this figure."""
    billed_seconds = cpu_ms_on_one_core / 1000 * LAMBDA_MB_PER_VCPU / MEMORY_MB  # its CPU share at MEMORY_MB
    compute = billed_seconds * MEMORY_MB / 1024 * ARM64_USD_PER_GB_SECOND * 1_000_000
    return {
        "billed_ms_per_upload": round(billed_seconds * 1000, 1),
        "compute_usd": round(compute, 2),
        "requests_usd": USD_PER_MILLION_REQUESTS,
        "total_usd": round(compute + USD_PER_MILLION_REQUESTS, 2),
    }


def beside_vips(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """libvips' main bytes and score beside ours and the seed's, over the images it reads (no HEIC)."""
    read = [row for row in rows if "vips" in row["ssimulacra2"]]
    if not read:
        return {}

    def total(name: str) -> int:
        return sum(row["main_bytes"][name] for row in read)

    return {
        "main bytes vs seed % ours / vips (images libvips reads)": [
            round(100 * (total(name) / total("seed") - 1), 1) for name in ("ours", "vips")
        ],
        "ssimulacra2 mean ours / seed / vips (images libvips reads)": [
            round(statistics.mean(row["ssimulacra2"][name] for row in read), 2) for name in ("ours", "seed", "vips")
        ],
    }


def summarise(rows: list[dict[str, Any]], imports: dict[str, float]) -> dict[str, Any]:
    jpeg = [row for row in rows if row["image"].lower().endswith((".jpg", ".jpeg"))]
    other = [row for row in rows if row["image"].lower().endswith(HEIF_SUFFIXES)]

    def median_of(selection: list[dict[str, Any]], key: str) -> float | None:
        values = [row["ratio"][key] for row in selection if row["ratio"][key] is not None]
        return round(statistics.median(values), 3) if values else None

    largest_mp = max(jpeg, key=lambda row: row["megapixels"], default=None)
    summary: dict[str, Any] = {
        "jpeg median ours/vips": median_of(jpeg, "ours/vips"),
        "jpeg median ours/seed": median_of(jpeg, "ours/seed"),
        "jpeg median ours/floor": median_of(jpeg, "ours/floor"),
        "jpeg median ours/least": median_of(jpeg, "ours/least"),
        "heif/avif median ours/decode-alone": median_of(other, "ours/floor"),
        "jpeg median ours-2threads/vips": median_of(jpeg, "ours-2threads/vips"),
        "jpeg median ours-2threads/floor": median_of(jpeg, "ours-2threads/floor"),
        "heif/avif median ours-2threads/decode-alone": median_of(other, "ours-2threads/floor"),
        # the bound on the two ratios above: baselines.least, the floor's decode plus the renditions' geometry
        "jpeg median least/floor": median_of(jpeg, "least/floor"),
        "heif/avif median least/decode-alone": median_of(other, "least/floor"),
        "jpeg median least/vips": median_of(jpeg, "least/vips"),
        "median time per image ms, ours / ours-pillow (JPEG_ENCODER=pillow)": [
            round(statistics.median(row["ms"][name] for row in rows), 1) for name in ("ours", "ours-pillow")
        ],
        "median per-image ratio ours/ours-pillow (all images)": median_of(rows, "ours/ours-pillow"),
        "jpeg median ours/ours-pillow": median_of(jpeg, "ours/ours-pillow"),
        "import handler ms (median of 10)": round(imports["image_optimizer.handler"], 1),
        "import boto3 ms (median of 10)": round(imports["boto3"], 1),
        "import ratio": round(imports["image_optimizer.handler"] / imports["boto3"], 3),
        "ssimulacra2 mean ours / seed / least (all images)": [
            round(statistics.mean(row["ssimulacra2"][name] for row in rows), 2) for name in ("ours", "seed", "least")
        ],
        "ssimulacra2 min ours-seed": round(
            min(row["ssimulacra2"]["ours"] - row["ssimulacra2"]["seed"] for row in rows), 2
        ),
        "thumbnail ssimulacra2 mean ours / seed": {
            spec.name: [
                round(statistics.mean(row["thumbnail_ssimulacra2"][name][spec.name] for row in rows), 2)
                for name in ("ours", "seed")
            ]
            for spec in CONFIG.thumbnails
        },
    }
    summary.update(beside_vips(rows))
    twelve = [row["ms"]["ours"] for row in jpeg if round(row["megapixels"]) == 12]
    if twelve:
        summary["lambda compute per million 12 MP JPEG uploads (USD)"] = lambda_cost_per_million(
            statistics.median(twelve)
        )
    if largest_mp:
        rss = largest_mp["peak_rss_mb"]
        summary[f"peak RSS {largest_mp['image']} ours/seed"] = round(rss["ours"] / rss["seed"], 3)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=os.environ.get("BENCH_DIR") or None, help="folder of images (BENCH_DIR)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench.json")
    args = parser.parse_args()
    if args.reps < 5:
        parser.error("--reps must be at least 5")
    images = images_from(args.dir)
    if not images or not all(path.is_file() for path in images):
        print(f"no images found (looked in {args.dir or CORPUS}); set BENCH_DIR", file=sys.stderr)
        return 2
    rows, outputs = [], []
    for path in images:
        row, produced = bench_image(path, args.reps)
        rows.append(row)
        outputs.append(produced)
        print(f"  {path.name}: ours {row['ms']['ours']} ms", file=sys.stderr, flush=True)
    imports = {module: import_cost_ms(module) for module in ("boto3", "image_optimizer.handler")}
    add_peak_rss(rows, images)
    scores: ScoreCache = {}  # the encoder comparison below re-scores none of the same outputs
    add_scores(rows, images, outputs, scores)
    summary = summarise(rows, imports)
    # Smaller files: the images plus, for the default set, the corpus's Kodak images; every encoder variant.
    encoder_images = images + ([] if args.dir else encoders.kodak_images(CORPUS))
    encoder_rows = encoders.measure_all(encoder_images, scores)
    encoder_summary = encoders.summarise(encoder_rows)
    jpeg_png = [row for row in encoder_rows if not row["image"].lower().endswith(HEIF_SUFFIXES)]
    jpeg_png_summary = encoders.summarise(jpeg_png) if jpeg_png else encoder_summary
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
        photos = [path for path in images if path.suffix.lower() in (".jpg", ".jpeg")]
        sweep_inputs = sizes.sweep_inputs(photos, None if args.dir else CORPUS, Path(folder))
        sweep_rows = sizes.measure(sweep_inputs, args.reps, scores)
        profile = stages.profile_all([(path.name, path) for path in images], sweep_inputs, args.reps)
    sweep_summary = sizes.summarise(sweep_rows)
    checked = targets.check(
        summary, sweep_summary, targets.mains_of(encoder_summary), targets.mains_of(jpeg_png_summary)
    )
    end_to_end = measure_end_to_end(images[0], args.reps)
    machine = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "libvips threads": pyvips_one_thread().concurrency_get(),
    }
    args.out.write_text(
        json.dumps(
            {
                "machine": machine,
                "reps": args.reps,
                "images": rows,
                "summary": summary,
                "encoders": {
                    "images": encoder_rows,
                    "summary": encoder_summary,
                    "summary jpeg + png": jpeg_png_summary,
                },
                "sizes": {"images": sweep_rows, "summary": sweep_summary},
                "profile": profile,
                "targets": checked,
                **end_to_end,
            },
            indent=2,
        )
    )
    print_table(rows, summary)
    encoders.print_summary(encoder_summary, len(encoder_rows))
    sizes.print_summary(sweep_summary)
    stages.print_profile(profile)
    print_end_to_end(end_to_end["writes"], end_to_end["reads"])
    targets.print_targets(checked)
    chart = args.out.with_suffix(".svg")
    chart.write_text(svg(json.loads(args.out.read_text())))
    print(f"\nwrote {args.out} and {chart}")
    if not args.dir:  # smart crop windows, on the corpus's labelled photos: benchmarks/crops.py
        crops.run(args.out.with_name(f"{args.out.stem}-crops.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
