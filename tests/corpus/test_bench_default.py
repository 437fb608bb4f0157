"""`make bench` as the README shows it, on its default images (the corpus photos). Skipped with the rest of
the corpus suite when the corpus is absent. No timing is asserted: timing goals live in the benchmark's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, corpus_dir
from tests.integration.test_bench import run_bench


@pytest.mark.xdist_group("corpus-bench")  # beside the rest of the suite (tests/conftest.py)
@pytest.mark.timeout(1500)  # the whole benchmark: 15 photos timed, then 27 images through every encoder
def test_make_bench_on_the_default_corpus_photos(tmp_path: Path) -> None:
    report, _ = run_bench("make -s bench", tmp_path / "bench.json")
    names = [row["image"] for row in report["images"]]
    assert sum(name.endswith(".jpg") for name in names) == 7 and any(name.endswith(".heic") for name in names)
    summary = report["summary"]
    for key in ("jpeg median ours/vips", "jpeg median ours/seed", "jpeg median ours/floor", "import ratio"):
        assert summary[key] > 0, key
    assert 0 < summary["peak RSS photo_canon_eos5dmk3_22mp.jpg ours/seed"] < 1  # a ratio, measured
    # smaller files are judged over the bench images plus the Kodak set
    kodak = {path.name for path in (corpus_dir() / "08_kodak").glob("*.png")}
    assert {row["image"] for row in report["encoders"]["images"]} == set(names) | kodak
    assert "ours (per-image quality)" in report["encoders"]["summary"]
    # the size sweep: every class from 0.5 MP up (8 MP only from the photos larger than that) and the small uploads
    sweep = report["sizes"]["summary"]
    assert {"0.5 MP", "1 MP", "2 MP", "4 MP", "8 MP", "graphics (PNG, GIF)", "small photos (JPEG, WebP, PNG)"} == set(
        sweep
    )
    assert sweep["0.5 MP"]["images"] == 7 and sweep["8 MP"]["images"] == 6  # the 8 MP iPhone photo is not upscaled
    assert {target["target"] for target in report["targets"]} >= {"8 MP: median ours / fair libvips"}
    # docs/how-it-works.md's crop table, printed from the crop report the run writes beside bench.json
    crops = tmp_path / "bench-crops.json"
    printed = subprocess.run(
        [sys.executable, "-m", "benchmarks.markdown", str(tmp_path / "bench.json"), "--crops", str(crops)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    held = json.loads(crops.read_text())["summary"]["held all"]["ours (smart)"]
    assert f"| **smart** (this project) | {held['kept']:.3f} |" in printed
    assert "| the best window that exists |" in printed
