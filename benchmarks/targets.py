"""The speed and size targets `make bench` checks in its own run: each with the figure and whether it holds.

Timing goals live here, never in tests. A missed target is reported, not hidden: `make bench` still succeeds.
"""

from __future__ import annotations

from typing import Any

from benchmarks.encoders import DEFAULT
from benchmarks.sizes import SWEEP_MEGAPIXELS, size_class

Target = dict[str, Any]


def _target(name: str, value: float | None, limit: float, *, at_most: bool = True) -> Target:
    held = value is not None and (value <= limit if at_most else value >= limit)
    return {"target": name, "value": value, "limit": limit, "at_most": at_most, "held": held}


def check(
    summary: dict[str, Any], sweep: dict[str, dict[str, Any]], mains: dict[str, Any], mains_jpeg_png: dict[str, Any]
) -> list[Target]:
    """`mains`, `mains_jpeg_png`: the default encoder's main-image figures over all encoder images and over the
    JPEG and PNG ones alone (HEIC/AVIF score above the seed and could hide a shortfall there)."""
    targets = [
        _target("JPEG photos: median ours / fair libvips", summary["jpeg median ours/vips"], 0.85),
        _target("JPEG photos: median ours / least", summary["jpeg median ours/least"], 1.25),
        _target("HEIC/AVIF: median ours / decode alone", summary["heif/avif median ours/decode-alone"], 1.25),
        _target("mains: bytes vs seed %", mains["bytes_vs_seed_pct"], -20.0),
        _target("mains: mean SSIMULACRA2 vs seed", mains["mean_ssimulacra2_vs_seed"], -0.5, at_most=False),
        _target(
            "mains, JPEG + PNG only: mean SSIMULACRA2 vs seed",
            mains_jpeg_png["mean_ssimulacra2_vs_seed"],
            -0.5,
            at_most=False,
        ),
        _target("mains: worst image SSIMULACRA2 vs seed", mains["worst_ssimulacra2_vs_seed"], -2.0, at_most=False),
    ]
    for megapixels in SWEEP_MEGAPIXELS:
        figures = sweep.get(size_class(megapixels))
        if figures:
            targets.append(_target(f"{size_class(megapixels)}: median ours / seed", figures["ours/seed"], 1.0))
            targets.append(_target(f"{size_class(megapixels)}: median ours / fair libvips", figures["ours/vips"], 1.0))
    return targets


def mains_of(encoder_summary: dict[str, Any]) -> dict[str, Any]:
    return dict(encoder_summary[DEFAULT]["main"])


def print_targets(targets: list[Target]) -> None:
    print("\ntargets (this run):")
    for target in targets:
        sign = "<=" if target["at_most"] else ">="
        verdict = "held" if target["held"] else "MISSED"
        print(f"  {target['target']:52} {target['value']!s:>8} (target {sign} {target['limit']}): {verdict}")
