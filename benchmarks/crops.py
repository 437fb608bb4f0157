"""Where a crop thumbnail's window goes: centre, libvips attention and entropy, and ours (image_optimizer.imaging.crop),
on hand-labelled corpus photos (benchmarks/crop_labels.tsv says how they were labelled) and off-centre crops of
them with known boxes. `python -m benchmarks.crops` (also the end of `make bench`).

Per method and split (dev: the method was tuned on it; held: only measured): the mean fraction of the subject's
box inside the window ("kept"), how often the subject's centre is inside, how often less than half is kept, the
worst loss against the centre crop on any one case, and the median time per call on the image (up to 1600 px).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from benchmarks.crop_methods import centre_window, faces_then_ours, has_opencv, vips_method, vips_timing
from image_optimizer.imaging import crop
from image_optimizer.imaging.layout import crop_plan

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CORPUS_DIR", ROOT.parent / "shared" / "corpus"))
LABELS = Path(__file__).with_name("crop_labels.tsv")
WINDOWS = ((150, 150), (400, 200))  # the thumbnail shapes
LARGEST = 1600  # px a side: the images are used at most this large (what the speed budget is stated for)
OFF_CENTRE = ((2, 1, "start"), (2, 1, "end"), (1, 2, "start"), (1, 2, "end"))  # synthetic crops: shape, subject end
MARGIN = 0.03  # of the crop's length, left between the subject and the crop's end
CROP_SCALE = 0.7  # of the largest crop of that shape: what leaves it room to move
REPS = 3

Fractions = tuple[float, float, float, float]
Window = tuple[int, int, int, int]
Method = Callable[[Image.Image, int, int], Window]


@dataclass(frozen=True)
class Case:
    name: str
    split: str
    kind: str  # "photo" or "crop"
    image: Image.Image
    subject: Fractions


def labels() -> list[dict[str, str]]:
    lines = [line for line in LABELS.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def load(path: Path) -> Image.Image:
    """Upright RGB, at most LARGEST a side."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(path) as opened:
        opened.draft("RGB", (LARGEST, LARGEST))
        image = ImageOps.exif_transpose(opened)
        image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "PA", "P") else "RGB")
    if image.mode == "RGBA":
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    image.thumbnail((LARGEST, LARGEST), Image.Resampling.LANCZOS)
    return image


def cases(split: str | None = None) -> Iterator[Case]:
    for row in labels():
        if split and row["split"] != split:
            continue
        image = load(CORPUS / row["file"])
        subject = (float(row["x0"]), float(row["y0"]), float(row["x1"]), float(row["y1"]))
        name = Path(row["file"]).stem
        yield Case(name, row["split"], "photo", image, subject)
        regions = set()
        for across, down, end in OFF_CENTRE:
            cut = off_centre(image.size, subject, across / down, end)
            if cut and cut[0] not in regions:  # both ends can give one region when the subject is at an edge
                region, inside = cut
                regions.add(region)
                yield Case(f"{name} {across}:{down} {end}", row["split"], "crop", image.crop(region), inside)


def off_centre(size: tuple[int, int], subject: Fractions, aspect: float, end: str) -> tuple[Window, Fractions] | None:
    """A crop of `aspect` (width / height), CROP_SCALE of the largest (or as large as the subject needs), holding
    the whole subject near its `end` (start: left or top) along its long side, and the subject's box in it; None
    when the subject does not fit or would still be near the middle."""
    width, height = size
    sx0, sy0, sx1, sy1 = subject[0] * width, subject[1] * height, subject[2] * width, subject[3] * height
    crop_w, crop_h = (min(width, height * aspect), min(height, width / aspect))
    crop_w, crop_h = min(crop_w, crop_h * aspect), min(crop_h, crop_w / aspect)
    # Smaller than the largest, so that it can put the subject at its end whatever the photo's shape.
    scale = max(CROP_SCALE, (sx1 - sx0) / crop_w, (sy1 - sy0) / crop_h)
    if scale > 1:
        return None
    crop_w, crop_h = crop_w * scale, crop_h * scale

    def along(low: float, high: float, length: float, full: float, moving: bool) -> float:
        if not moving:  # centred on the subject across the crop
            return min(max((low + high - length) / 2, 0.0), full - length)
        start = low - MARGIN * length if end == "start" else high + MARGIN * length - length
        return min(max(start, 0.0), full - length)

    horizontal = aspect >= 1
    x = along(sx0, sx1, crop_w, width, horizontal)
    y = along(sy0, sy1, crop_h, height, not horizontal)
    region = (round(x), round(y), round(x + crop_w), round(y + crop_h))
    rw, rh = region[2] - region[0], region[3] - region[1]
    inside = ((sx0 - region[0]) / rw, (sy0 - region[1]) / rh, (sx1 - region[0]) / rw, (sy1 - region[1]) / rh)
    offset = (inside[0] + inside[2]) / 2 if horizontal else (inside[1] + inside[3]) / 2
    return (region, inside) if abs(offset - 0.5) >= 0.1 else None


def kept(window: Window, size: tuple[int, int], subject: Fractions) -> float:
    sx0, sy0, sx1, sy1 = subject[0] * size[0], subject[1] * size[1], subject[2] * size[0], subject[3] * size[1]
    overlap_w = max(0.0, min(sx1, window[2]) - max(sx0, window[0]))
    overlap_h = max(0.0, min(sy1, window[3]) - max(sy0, window[1]))
    return overlap_w * overlap_h / max(1e-9, (sx1 - sx0) * (sy1 - sy0))


def centre_inside(window: Window, size: tuple[int, int], subject: Fractions) -> bool:
    x, y = (subject[0] + subject[2]) / 2 * size[0], (subject[1] + subject[3]) / 2 * size[1]
    return window[0] <= x <= window[2] and window[1] <= y <= window[3]


def best_window(image: Image.Image, width: int, height: int, subject: Fractions) -> Window:
    """The best window that exists: the centre crop's size, moved to keep the most of the subject."""
    box, _ = crop_plan(image.width, image.height, width, height)
    centres = [(x / 100, (subject[1] + subject[3]) / 2) for x in range(101)] + [
        ((subject[0] + subject[2]) / 2, y / 100) for y in range(101)
    ]
    windows = [crop.rounded(crop.centred_on(box, image.size, c), image.size) for c in centres]
    return max(windows, key=lambda w: kept(w, image.size, subject))


METHODS: dict[str, Method] = {
    "centre crop": centre_window,
    "libvips attention": vips_method("attention"),
    "libvips entropy": vips_method("entropy"),
    "ours (smart)": crop.smart_box,
    **({"faces, else ours": faces_then_ours} if has_opencv() else {}),
}
TIMED: dict[str, Callable[[Image.Image, int, int], object]] = {
    "centre crop": centre_window,
    "libvips attention": vips_timing("attention"),
    "libvips entropy": vips_timing("entropy"),
    "ours (smart)": crop.smart_box,
    "faces, else ours": faces_then_ours,
}


def evaluate(split: str | None = None, methods: dict[str, Method] | None = None, timing: bool = True) -> dict[str, Any]:
    methods = methods or METHODS
    results: list[dict[str, Any]] = []
    times: dict[str, list[float]] = {name: [] for name in methods}
    for case in cases(split):
        for width, height in WINDOWS:
            row: dict[str, Any] = {
                "case": case.name,
                "split": case.split,
                "kind": case.kind,
                "window": f"{width}x{height}",
            }
            best = best_window(case.image, width, height, case.subject)
            row["best that exists"] = kept(best, case.image.size, case.subject)
            for name, method in methods.items():
                window = method(case.image, width, height)
                row[name] = kept(window, case.image.size, case.subject)
                row[name + " centre in"] = centre_inside(window, case.image.size, case.subject)
                if timing and case.kind == "photo" and name in TIMED:
                    times[name].append(_median_ms(TIMED[name], case.image, width, height))
            results.append(row)
    return {"rows": results, "ms": {name: round(statistics.median(v), 2) for name, v in times.items() if v}}


def _median_ms(function: Callable[[Image.Image, int, int], object], image: Image.Image, w: int, h: int) -> float:
    samples = []
    for _ in range(REPS):
        started = time.perf_counter()
        function(image, w, h)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def summarise(rows: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, float]]:
    summary = {}
    for name in [*names, "best that exists"]:
        values = [row[name] for row in rows]
        entry = {"kept": round(statistics.fmean(values), 3), "cases": len(values)}
        if name != "best that exists":
            entry["centre in"] = round(statistics.fmean(row[name + " centre in"] for row in rows), 3)
            entry["under half"] = round(sum(v < 0.5 for v in values) / len(values), 3)
            entry["worst vs centre"] = round(max(row["centre crop"] - row[name] for row in rows), 3)
        summary[name] = entry
    return summary


def report(result: dict[str, Any], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"ms": result["ms"]}
    for split in ("dev", "held"):
        for kind in ("photo", "crop", None):
            rows = [r for r in result["rows"] if r["split"] == split and (kind is None or r["kind"] == kind)]
            if rows:
                out[f"{split} {kind or 'all'}"] = summarise(rows, names)
    return out


def print_report(summary: dict[str, Any]) -> None:
    print("\ncrop windows: mean subject kept / centre inside / under half kept / worst loss vs centre; ms per call")
    for group, table in summary.items():
        if group == "ms":
            continue
        count = next(iter(table.values()))["cases"]
        print(f"  {group} ({count} cases)")
        for name, entry in table.items():
            if name == "best that exists":
                print(f"    {name:<20} {entry['kept']:.3f}")
                continue
            ms = summary["ms"].get(name)
            print(
                f"    {name:<20} {entry['kept']:.3f}  {entry['centre in']:.2f}  {entry['under half']:.2f}"
                f"  {entry['worst vs centre']:+.2f}  {'' if ms is None else f'{ms:.1f} ms'}"
            )


def measure() -> dict[str, Any]:
    """Everything, for `make bench` (bench.json's "crops")."""
    result = evaluate()
    summary = report(result, list(METHODS))
    return {"summary": summary, "rows": result["rows"]}


def run(out: Path) -> dict[str, Any]:
    """`make bench`'s part: measure everything, print the table, write the rows and the summary to `out`."""
    if not CORPUS.is_dir():  # BENCH_DIR alone: the labelled photos are the corpus's
        print(f"\ncrop windows: no corpus at {CORPUS} (CORPUS_DIR), not measured")
        return {}
    measured = measure()
    print_report(measured["summary"])
    out.write_text(json.dumps(measured, indent=2))
    print(f"wrote {out}")
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=("dev", "held"), help="only this part of the labelled set")
    parser.add_argument("--out", type=Path, help="write the per-case rows and the summary as JSON")
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    if not LABELS.is_file() or not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}; set CORPUS_DIR", file=sys.stderr)
        return 2
    result = evaluate(args.split, timing=not args.no_timing)
    summary = report(result, list(METHODS))
    print_report(summary)
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "rows": result["rows"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
