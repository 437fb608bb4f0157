"""`make bench` as the README shows it, on its default images (the corpus photos). Skipped with the rest of
the corpus suite when the corpus is absent. No timing is asserted: timing goals live in the benchmark's output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT


def test_make_bench_on_the_default_corpus_photos(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        "make -s bench",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "BENCH_OUT": str(out)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    names = [row["image"] for row in report["images"]]
    assert sum(name.endswith(".jpg") for name in names) == 7 and any(name.endswith(".heic") for name in names)
    summary = report["summary"]
    for key in ("jpeg median ours/vips", "jpeg median ours/seed", "jpeg median ours/floor", "import ratio"):
        assert summary[key] > 0, key
    assert 0 < summary["peak RSS photo_canon_eos5dmk3_22mp.jpg ours/seed"] < 1  # a ratio, measured
