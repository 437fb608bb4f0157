"""What `rerender --from-main` costs in quality: each thumbnail made from the original (as the function makes it)
and derived from the main rendition instead (one JPEG generation more), both scored with SSIMULACRA2 against a
Lanczos reference from the original (benchmarks/quality.py).

    .venv/bin/python -m benchmarks.from_main [IMAGE_OR_DIR ...]   (default: the corpus' Kodak and large photos)
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import replace
from pathlib import Path

from benchmarks.quality import score
from image_optimizer.aws.rerender import no_larger
from image_optimizer.imaging.pipeline import optimize
from image_optimizer.specs import PipelineConfig, parse_thumbnails
from tests.conftest import corpus_dir

THUMBNAILS = parse_thumbnails("thumb:150x150:crop,small:320x320:fit,wide:600x300:crop")
SUFFIXES = {".jpg", ".jpeg", ".png"}


def images(arguments: list[str]) -> list[Path]:
    roots = [Path(argument) for argument in arguments] or [corpus_dir() / "08_kodak", corpus_dir() / "01_photos_large"]
    found = [path for root in roots for path in (sorted(root.iterdir()) if root.is_dir() else [root])]
    return [path for path in found if path.suffix.lower() in SUFFIXES]


def deltas(path: Path, config: PipelineConfig) -> dict[str, float]:
    """Per thumbnail: derived-from-main score minus from-the-original score (negative: the extra generation)."""
    source = path.read_bytes()
    direct = optimize(source, config)
    main = direct.main
    derivable = tuple(spec for spec in config.thumbnails if no_larger(spec, (main.width, main.height)))
    derived = optimize(main.data, replace(config, max_width=main.width, max_height=main.height, thumbnails=derivable))
    by_name = {r.name: r for r in derived.renditions if r.format == "jpeg"}
    result = {}
    for spec, rendition in zip(config.thumbnails, direct.renditions[1:], strict=True):
        if spec.name not in by_name:
            continue
        crop = spec.fit == "crop"
        result[spec.name] = score(source, by_name[spec.name].data, crop=crop) - score(source, rendition.data, crop=crop)
    return result


def main(arguments: list[str]) -> int:
    config = PipelineConfig(thumbnails=THUMBNAILS)
    per_spec: dict[str, list[float]] = {spec.name: [] for spec in THUMBNAILS}
    for path in images(arguments):
        found = deltas(path, config)  # a thumbnail larger than the main image is not derived: left out
        for name, delta in found.items():
            per_spec[name].append(delta)
        print(f"{path.name}: " + ", ".join(f"{name} {delta:+.2f}" for name, delta in found.items()), flush=True)
    print("\nSSIMULACRA2, derived from the main minus made from the original (per thumbnail):")
    for name, values in per_spec.items():
        if values:
            print(
                f"{name:<6} n={len(values):<3} mean {statistics.fmean(values):+.2f}"
                f"  median {statistics.median(values):+.2f}  worst {min(values):+.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
