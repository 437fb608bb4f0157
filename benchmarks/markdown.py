"""The README's Performance tables from one `make bench` report: `python -m benchmarks.markdown bench.json`.

The README's figures come from one run, pasted as this prints them, so none is copied by hand.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _value(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(columns: list[str], rows: Iterable[list[str]]) -> list[str]:
    """A Markdown table: the first column left-aligned, the figures right-aligned."""
    return [
        f"| {' | '.join(columns)} |",
        "|---|" + "---:|" * (len(columns) - 1),
        *(f"| {' | '.join(row)} |" for row in rows),
    ]


def images_table(report: dict[str, Any]) -> list[str]:
    columns = [
        *("image", "MP", "ours ms", "libvips ms", "seed ms", "least ms"),
        *("ours / libvips", "ours / seed", "ours / least", "ours / floor"),
        *("main KB ours / libvips / seed", "SSIMULACRA2 ours / libvips / seed"),
    ]
    rows = []
    for row in report["images"]:
        ms, ratio, kb, score = row["ms"], row["ratio"], row["main_bytes"], row["ssimulacra2"]
        main_kb = " / ".join(_value(kb[name] / 1024 if name in kb else None, 1) for name in ("ours", "vips", "seed"))
        scores = " / ".join(_value(score.get(name), 1) for name in ("ours", "vips", "seed"))
        rows.append(
            [
                *(row["image"], str(row["megapixels"])),
                *(_value(ms[name], 0) for name in ("ours", "vips", "seed", "least")),
                *(_value(ratio[name]) for name in ("ours/vips", "ours/seed", "ours/least", "ours/floor")),
                *(main_kb, scores),
            ]
        )
    return _table(columns, rows)


def sweep_table(report: dict[str, Any]) -> list[str]:
    columns = [
        *(
            "uploads",
            "n",
            "ours ms",
            "ours / seed",
            "ours / libvips",
            "ours / floor",
            "least / seed",
            "least / libvips",
        ),
        *("main bytes vs seed: ours / libvips", "SSIMULACRA2 vs seed: ours / libvips"),
    ]
    rows = []
    for size, figures in report["sizes"]["summary"].items():
        ours_bytes, vips_bytes = figures["main bytes vs seed % (ours, vips)"]
        ours_score, vips_score = figures["main ssimulacra2 vs seed (ours, vips)"]
        rows.append(
            [
                *(size, str(figures["images"]), f"{figures['ours ms median']:.0f}"),
                *(
                    _value(figures[name])
                    for name in ("ours/seed", "ours/vips", "ours/floor", "least/seed", "least/vips")
                ),
                f"{_signed(ours_bytes, 1, '%')} / {_signed(vips_bytes, 1, '%')}",
                f"{_signed(ours_score, 2)} / {_signed(vips_score, 2)}",
            ]
        )
    return _table(columns, rows)


def _signed(value: float | None, digits: int, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}{unit}"


def targets_list(report: dict[str, Any]) -> list[str]:
    return [
        f"- {target['target']}: **{target['value']}** (target {'≤' if target['at_most'] else '≥'} {target['limit']}):"
        f" {'held' if target['held'] else 'missed'}"
        for target in report["targets"]
    ]


def encoders_table(report: dict[str, Any]) -> list[str]:
    columns = [
        *("encoder, same pixels", "main bytes vs seed", "main SSIMULACRA2 mean / worst vs seed"),
        *("thumb / small bytes vs seed", "encode ms per image"),
    ]
    rows = []
    for name, figures in report["encoders"]["summary"].items():
        main, thumb, small = figures["main"], figures["thumb"], figures["small"]
        rows.append(
            [
                name,
                _signed(main["bytes_vs_seed_pct"], 1, "%"),
                f"{_signed(main['mean_ssimulacra2_vs_seed'], 2)} / {_signed(main['worst_ssimulacra2_vs_seed'], 2)}",
                f"{_signed(thumb['bytes_vs_seed_pct'], 1, '%')} / {_signed(small['bytes_vs_seed_pct'], 1, '%')}",
                f"{figures['encode_ms_median']:.0f}",
            ]
        )
    return _table(columns, rows)


CROP_METHODS = {
    "centre crop": "centre crop",
    "libvips attention": "libvips attention",
    "libvips entropy": "libvips entropy",
    "ours (smart)": "**smart** (this project)",
    "faces, else ours": "faces (OpenCV Haar), else smart",
}


def crops_table(crops: dict[str, Any]) -> list[str]:
    """docs/how-it-works.md's table from `bench-crops.json` (benchmarks/crops.py): the held-out part."""
    summary = crops["summary"]
    columns = [
        *("method", "kept (all)", "kept (photos)", "kept (crops)", "subject's centre inside", "under half kept"),
        *("worst loss against centre", "ms per call"),
    ]
    rows = []
    for method, label in CROP_METHODS.items():
        if method not in summary["held all"]:
            continue  # faces: only where OpenCV is installed
        figures = summary["held all"][method]
        kept = [f"{summary[part][method]['kept']:.3f}" for part in ("held all", "held photo", "held crop")]
        worst = "—" if method == "centre crop" else f"{figures['worst vs centre']:.2f}"
        ms = summary["ms"].get(method)
        rows.append([label, *kept, f"{figures['centre in']:.2f}", f"{figures['under half']:.2f}", worst, _value(ms, 0)])
    best = [f"{summary[part]['best that exists']['kept']:.3f}" for part in ("held all", "held photo", "held crop")]
    return _table(columns, [*rows, ["the best window that exists", *best, "", "", "", ""]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path, nargs="?", default=Path("bench.json"))
    parser.add_argument("--crops", type=Path, help="also the crop table from this bench-crops.json")
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    blocks = [images_table(report), sweep_table(report), targets_list(report), encoders_table(report)]
    if args.crops:
        blocks.append(crops_table(json.loads(args.crops.read_text())))
    for block in blocks:
        print("\n".join(block), end="\n\n")


if __name__ == "__main__":
    main()
