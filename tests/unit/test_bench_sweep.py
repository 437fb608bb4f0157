"""The size sweep, the stage profile and the target check of `make bench` (the benchmark itself runs in
tests/integration/test_bench.py; no timing is asserted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks import sizes, stages, targets
from image_optimizer.specs import MAIN
from tests.conftest import SAMPLES_DIR


def test_the_sweep_downscales_keeping_orientation_and_never_upscales(tmp_path: Path) -> None:
    photo = SAMPLES_DIR / "landscape_exif6.jpg"  # 1200x1800 stored, EXIF orientation 6: 2.2 MP
    inputs = sizes.sweep_inputs([photo], None, tmp_path)
    assert [size for size, _ in inputs] == ["0.5 MP", "1 MP", "2 MP"]  # no 4 or 8 MP: that would upscale
    for size, path in inputs:
        image = Image.open(path)
        assert abs(image.width * image.height / 1e6 - float(size.split()[0])) < 0.01
        assert image.getexif().get(0x0112) == 6  # still needs turning upright, as a phone's resized photo does
        assert abs(image.width / image.height - 2 / 3) < 0.01


def test_the_sweep_summary_is_per_class_medians_of_per_input_ratios() -> None:
    def row(size: str, ours: float, seed: float, vips: float) -> dict[str, Any]:
        return {
            "class": size,
            "ms": {"ours": ours, "seed": seed, "vips": vips, "floor": 1.0, "least": ours / 2},
            "main_bytes": {"ours": 80, "seed": 100, "vips": 90},
            "ssimulacra2": {"ours": 79.0, "seed": 80.0, "vips": 81.0},
        }

    summary = sizes.summarise(
        [row("1 MP", 10, 20, 5), row("1 MP", 30, 20, 10), row("1 MP", 20, 40, 40), row("2 MP", 8, 4, 2)]
    )
    assert summary["1 MP"]["ours/seed"] == 0.5  # median of 0.5, 1.5, 0.5
    assert summary["1 MP"]["ours/vips"] == 2.0  # median of 2, 3, 0.5
    assert summary["1 MP"]["main bytes vs seed % (ours, vips)"] == [-20.0, -10.0]
    assert summary["1 MP"]["main ssimulacra2 vs seed (ours, vips)"] == [-1.0, 1.0]
    assert summary["2 MP"]["ours/seed"] == 2.0 and summary["2 MP"]["images"] == 1


def test_the_stage_clock_charges_each_call_its_own_time_less_its_callees() -> None:
    now = [0.0]  # a clock the test moves: outer works 1 s, inner 2 s, outer 4 s more
    clock = stages.StageClock(lambda: now[0])

    def work(seconds: float) -> None:
        now[0] += seconds

    timed_inner = clock.wrap(lambda: work(2.0), lambda: "inner")

    def outer() -> None:
        work(1.0)
        timed_inner()
        work(4.0)

    clock.wrap(outer, lambda: "outer")()
    assert clock.totals == {"inner": 2.0, "outer": 5.0}  # not 7: the inner call's time is the inner stage's


def test_the_profile_splits_a_real_run_into_the_pipelines_stages() -> None:
    data = (SAMPLES_DIR / "landscape_exif6.jpg").read_bytes()
    profile = stages.profile_ours(data, reps=1)
    for stage in ("decode", "resample", "orient", "quality search", "encode main", "encode thumbnails"):
        assert profile[stage] > 0, stage  # each step was wrapped and ran
    assert stages._encode_stage(None, MAIN) == "encode main" and stages._encode_stage(None, "thumb") != "encode main"


def test_targets_report_what_held_and_what_was_missed() -> None:
    summary = {"jpeg median ours/vips": 0.9, "jpeg median ours/least": 1.2, "heif/avif median ours/decode-alone": 1.3}
    sweep = {"0.5 MP": {"ours/seed": 1.5, "ours/vips": 0.9}}
    mains = {"bytes_vs_seed_pct": -21.0, "mean_ssimulacra2_vs_seed": -0.4, "worst_ssimulacra2_vs_seed": -1.9}
    checked = {
        t["target"]: t["held"]
        for t in targets.check(summary, sweep, mains, {**mains, "mean_ssimulacra2_vs_seed": -0.8})
    }
    assert checked == {
        "JPEG photos: median ours / fair libvips": False,
        "JPEG photos: median ours / least": True,
        "HEIC/AVIF: median ours / decode alone": False,
        "mains: bytes vs seed %": True,
        "mains: mean SSIMULACRA2 vs seed": True,
        "mains, JPEG + PNG only: mean SSIMULACRA2 vs seed": False,
        "mains: worst image SSIMULACRA2 vs seed": True,
        "0.5 MP: median ours / seed": False,
        "0.5 MP: median ours / fair libvips": True,
    }
