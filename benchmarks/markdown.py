"""The README's Performance tables from one `make bench` report: `python -m benchmarks.markdown bench.json`.

The README's figures come from one run, pasted as this prints them, so none is copied by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _value(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def images_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| image | MP | ours ms | libvips ms | seed ms | least ms | ours / libvips | ours / seed | ours / least"
        " | ours / floor | main KB ours / libvips / seed | SSIMULACRA2 ours / libvips / seed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["images"]:
        ms, ratio, kb, score = row["ms"], row["ratio"], row["main_bytes"], row["ssimulacra2"]
        main_kb = " / ".join(_value(kb[name] / 1024 if name in kb else None, 1) for name in ("ours", "vips", "seed"))
        scores = " / ".join(_value(score.get(name), 1) for name in ("ours", "vips", "seed"))
        lines.append(
            f"| {row['image']} | {row['megapixels']} | {_value(ms['ours'], 0)} | {_value(ms['vips'], 0)}"
            f" | {_value(ms['seed'], 0)} | {_value(ms['least'], 0)} | {_value(ratio['ours/vips'])}"
            f" | {_value(ratio['ours/seed'])} | {_value(ratio['ours/least'])} | {_value(ratio['ours/floor'])}"
            f" | {main_kb} | {scores} |"
        )
    return lines


def sweep_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| uploads | n | ours ms | ours / seed | ours / libvips | ours / floor | least / seed | least / libvips"
        " | main bytes vs seed: ours / libvips | SSIMULACRA2 vs seed: ours / libvips |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, figures in report["sizes"]["summary"].items():
        ours_bytes, vips_bytes = figures["main bytes vs seed % (ours, vips)"]
        ours_score, vips_score = figures["main ssimulacra2 vs seed (ours, vips)"]
        lines.append(
            f"| {size} | {figures['images']} | {figures['ours ms median']:.0f} | {_value(figures['ours/seed'])}"
            f" | {_value(figures['ours/vips'])} | {_value(figures['ours/floor'])} | {_value(figures['least/seed'])}"
            f" | {_value(figures['least/vips'])}"
            f" | {_signed(ours_bytes, 1, '%')} / {_signed(vips_bytes, 1, '%')}"
            f" | {_signed(ours_score, 2)} / {_signed(vips_score, 2)} |"
        )
    return lines


def _signed(value: float | None, digits: int, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}{unit}"


def targets_list(report: dict[str, Any]) -> list[str]:
    return [
        f"- {target['target']}: **{target['value']}** (target {'≤' if target['at_most'] else '≥'} {target['limit']}):"
        f" {'held' if target['held'] else 'missed'}"
        for target in report["targets"]
    ]


def encoders_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| encoder, same pixels | main bytes vs seed | main SSIMULACRA2 mean / worst vs seed"
        " | thumb / small bytes vs seed | encode ms per image |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, figures in report["encoders"]["summary"].items():
        main, thumb, small = figures["main"], figures["thumb"], figures["small"]
        lines.append(
            f"| {name} | {_signed(main['bytes_vs_seed_pct'], 1, '%')}"
            f" | {_signed(main['mean_ssimulacra2_vs_seed'], 2)} / {_signed(main['worst_ssimulacra2_vs_seed'], 2)}"
            f" | {_signed(thumb['bytes_vs_seed_pct'], 1, '%')} / {_signed(small['bytes_vs_seed_pct'], 1, '%')}"
            f" | {figures['encode_ms_median']:.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path, nargs="?", default=Path("bench.json"))
    report = json.loads(parser.parse_args().report.read_text())
    for block in (images_table(report), sweep_table(report), targets_list(report), encoders_table(report)):
        print("\n".join(block), end="\n\n")


if __name__ == "__main__":
    main()
