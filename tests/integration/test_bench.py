"""`make bench` runs as the README shows it (on the samples, to stay quick) and reports what the issue asks.
No timing is asserted here: timing goals live in the benchmark's own output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.end_to_end import BANDWIDTHS_MB_S
from tests.conftest import ROOT, SAMPLES_DIR


def run_bench(command: str, out: Path) -> tuple[dict[str, Any], str]:
    """Run a README bench command with its report redirected to `out`; return the report and the table."""
    result = subprocess.run(
        command,
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "BENCH_OUT": str(out)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text()), result.stdout


def test_make_bench_on_the_samples_writes_a_full_report(tmp_path: Path) -> None:
    report, table = run_bench("make -s bench BENCH_DIR=samples", tmp_path / "bench.json")
    images = {row["image"] for row in report["images"]}
    assert images == {path.name for path in SAMPLES_DIR.iterdir() if path.suffix in {".jpg", ".png", ".webp", ".heic"}}
    assert report["reps"] >= 5
    for row in report["images"]:
        assert row["ms"]["ours"] > 0 and row["ms"]["seed"] > 0 and row["ms"]["floor"] > 0
        assert set(row["peak_rss_mb"]) == {"ours", "ours-2threads", "ours-pillow", "seed", "vips", "floor", "least"}
        assert row["ratio"]["least/floor"] > 0 and row["ssimulacra2"]["least"] > 40
        assert row["ms"]["ours-2threads"] > 0 and row["ratio"]["ours-2threads/floor"] > 0
        assert row["ssimulacra2"]["ours"] > 50  # a sane picture, not a blank or shifted one
        # thumbnails are judged too, each against a reference of its own shape (a crop for the crop thumbnail)
        assert set(row["thumbnail_ssimulacra2"]["ours"]) == {"thumb", "small"}
        assert min(row["thumbnail_ssimulacra2"]["ours"].values()) > 40
    summary = report["summary"]
    assert summary["import ratio"] > 0 and "jpeg median ours/vips" in summary
    # libvips' bytes and score beside ours, and the bound the least work sets
    assert len(summary["main bytes vs seed % ours / vips (images libvips reads)"]) == 2
    assert summary["jpeg median least/vips"] > 0 and summary["jpeg median ours/least"] > 0

    # the size sweep: the sample JPEG (2.2 MP) at 0.5, 1 and 2 MP, every class with its ratios, bytes and scores
    sweep = report["sizes"]["summary"]
    assert set(sweep) == {"0.5 MP", "1 MP", "2 MP"}
    for figures in sweep.values():
        assert figures["ours/seed"] > 0 and figures["ours/vips"] > 0 and figures["least/seed"] > 0
        assert None not in figures["main bytes vs seed % (ours, vips)"]
    assert all(row["ssimulacra2"]["ours"] > 50 for row in report["sizes"]["images"])
    assert "size sweep" in table
    # the per-stage profile: a row per image and per class, ours split into stages, libvips where it reads
    profile = {row["input"]: row for row in report["profile"]}
    assert {"landscape_exif6.jpg", "class 0.5 MP"} <= set(profile)
    assert profile["landscape_exif6.jpg"]["ours"]["quality search"] > 0
    assert profile["landscape_exif6.jpg"]["vips"]["encode main"] > 0 and profile["iphone8plus.heic"]["vips"] is None
    # and every target, with its figure and whether it held in this run
    assert {target["target"] for target in report["targets"]} >= {"JPEG photos: median ours / fair libvips"}
    assert "targets (this run)" in table
    # the README's tables come from the report as benchmarks/markdown.py prints them
    tables = subprocess.run(
        [sys.executable, "-m", "benchmarks.markdown", str(tmp_path / "bench.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "| landscape_exif6.jpg | 2.2 |" in tables and "| 0.5 MP | 1 |" in tables and "fair libvips" in tables
    # and a chart beside the report: ours, fair libvips and the seed per image and per size class
    chart = (tmp_path / "bench.svg").read_text()
    assert (
        chart.startswith("<svg") and "libvips (fair)" in chart and "landscape_exif6.jpg" in chart and "0.5 MP" in chart
    )
    assert set(summary["thumbnail ssimulacra2 mean ours / seed"]) == {"thumb", "small"}
    assert "jpeg median ours/floor" in table and "jpeg median least/floor" in table  # the readable table too
    assert summary["median per-image ratio ours/ours-pillow (all images)"] > 0

    # every encoder variant, on the same pixels, against the seed's output
    encoders = report["encoders"]
    assert {row["image"] for row in encoders["images"]} == {row["image"] for row in report["images"]}
    variants = {"seed", "pillow q85", "jpegli q85", "ours (per-image quality)", "ours 4:4:4", "webp", "avif"}
    for row in encoders["images"]:
        assert set(row["variants"]) == variants
        for name, figures in row["variants"].items():
            assert len(figures["bytes"]) == len(figures["ssimulacra2"]) == 3  # main, thumb, small
            # (the seed drops alpha without flattening it: black, not white, behind alpha.webp)
            scored = [value for value in figures["ssimulacra2"] if value is not None]
            assert figures["ssimulacra2"][0] is not None  # every main is scored
            assert name == "seed" or min(scored) > 40
    summary = encoders["summary"]
    assert set(summary) == variants - {"seed"}
    for figures in summary.values():
        assert set(figures) == {"main", "thumb", "small", "encode_ms_median"}
    # jpegli really ran: the same pixels at the same quality take fewer bytes than libjpeg-turbo's
    assert summary["jpegli q85"]["main"]["bytes_vs_seed_pct"] < summary["pillow q85"]["main"]["bytes_vs_seed_pct"]
    assert summary["webp"]["main"]["bytes_vs_ours_pct"] != 0
    assert "encoders over" in table

    # the write phase, end to end against an S3 server, concurrent and one at a time (benchmarks/end_to_end.py)
    writes = report["writes"]
    assert writes["image"] in images and writes["round_trip_ms"] > 0
    for config in ("default (3 renditions)", "EXTRA_FORMATS=webp,avif (9)"):
        assert writes["configs"][config]["concurrent"] > 0 and writes["configs"][config]["one at a time"] > 0
    assert "renditions written concurrently" in table
    # ... and decoded as the body arrives and after it has, at simulated bandwidths
    reads = report["reads"]
    assert reads["image"] == writes["image"] and reads["bytes"] > 0
    for figures in reads["bandwidths"].values():
        assert figures["decoded as it arrives"] > 0 and figures["after it has arrived"] > 0
    assert (
        list(reads["bandwidths"]) == [f"{rate} MB/s" for rate in BANDWIDTHS_MB_S] and "decoded as it arrives" in table
    )
