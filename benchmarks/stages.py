"""Where the time goes: a per-stage profile of this pipeline, and of libvips where it can be split.

Ours: the pipeline runs as it is (one thread), with its step functions wrapped by a clock that charges each
call's own time, less its wrapped callees', to a stage: decode, resample, colour, orient, quality search,
encode main, encode thumbnails; "other" is the rest of the run (opening, planning, copies). libvips decodes,
resamples and converts colour in one streamed pass, so its stages are that pass (`thumbnail_buffer` +
`copy_memory`), the main encode, and the thumbnails (resample + encode).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks.baselines import CONFIG, vips_encode_main, vips_main, vips_thumbnails
from image_optimizer.imaging import color, crop, decode, encode, pipeline
from image_optimizer.specs import MAIN

OURS_STAGES = (
    "decode",
    "resample",
    "colour",
    "orient",
    "smart crop",
    "placeholder",
    "quality search",
    "encode main",
    "encode thumbnails",
)
PROFILED_PER_CLASS = 3  # keeps `make bench` (and make test, which runs it) minutes shorter
VIPS_STAGES = ("decode + resample + colour", "encode main", "thumbnails")


class StageClock:
    """Exclusive time per stage: a wrapped call's time minus the time of the wrapped calls it made."""

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._children: list[float] = []
        self._now = now

    def wrap(self, function: Callable[..., Any], stage: Callable[..., str]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._children.append(0.0)
            started = self._now()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = self._now() - started
                self.totals[stage(*args, **kwargs)] += elapsed - self._children.pop()
                if self._children:
                    self._children[-1] += elapsed

        return timed


def _fixed(name: str) -> Callable[..., str]:
    return lambda *args, **kwargs: name


def _encode_stage(image: Any, name: str, *args: Any, **kwargs: Any) -> str:
    return "encode main" if name == MAIN else "encode thumbnails"


# (module, function, its stage): every step function the pipeline calls through a module attribute
_STEPS = [
    (decode, "load", _fixed("decode")),
    (pipeline, "shrink", _fixed("resample")),
    (pipeline, "resize", _fixed("resample")),
    (color, "to_8bit", _fixed("colour")),
    (color, "to_srgb", _fixed("colour")),
    (color, "flatten", _fixed("colour")),
    (pipeline, "orient", _fixed("orient")),
    (crop, "place_smart", _fixed("smart crop")),
    (pipeline, "of_image", _fixed("placeholder")),
    (encode, "choose_quality", _fixed("quality search")),
    (pipeline, "encode", _encode_stage),
]


@contextmanager
def clocked(clock: StageClock) -> Iterator[None]:
    with ExitStack() as stack:
        for module, name, stage in _STEPS:
            stack.enter_context(mock.patch.object(module, name, clock.wrap(getattr(module, name), stage)))
        yield


def profile_ours(data: bytes, reps: int) -> dict[str, float]:
    """Median ms per stage over `reps` runs (after a warm-up), "other" and "total" included. One thread: the
    clock's stack of callees is not shared between threads."""
    assert CONFIG.threads == 1
    runs: list[dict[str, float]] = []
    for _ in range(reps + 1):
        clock = StageClock()
        with clocked(clock):
            started = time.perf_counter()
            pipeline.optimize(data, CONFIG)
            total = time.perf_counter() - started
        stages = {stage: clock.totals.get(stage, 0.0) for stage in OURS_STAGES}
        runs.append({**stages, "other": total - sum(stages.values()), "total": total})
    return _medians_ms(runs[1:])


def profile_vips(data: bytes, reps: int) -> dict[str, float]:
    """The fair libvips reference (baselines.vips) in its three separable stages."""
    runs: list[dict[str, float]] = []
    for _ in range(reps + 1):
        started = time.perf_counter()
        main = vips_main(data)
        decoded = time.perf_counter()
        vips_encode_main(main)
        encoded = time.perf_counter()
        vips_thumbnails(main)
        finished = time.perf_counter()
        runs.append(
            {
                "decode + resample + colour": decoded - started,
                "encode main": encoded - decoded,
                "thumbnails": finished - encoded,
                "total": finished - started,
            }
        )
    return _medians_ms(runs[1:])


def _medians_ms(runs: list[dict[str, float]]) -> dict[str, float]:
    return {stage: round(statistics.median(run[stage] for run in runs) * 1000, 2) for stage in runs[0]}


def print_profile(rows: list[dict[str, Any]]) -> None:
    """One line per image (or class): ours' stages, then libvips'."""
    print("\nper-stage profile, median ms (ours | libvips):")
    print(
        "  "
        + f"{'input':34}"
        + "".join(f" {stage[:9]:>9}" for stage in (*OURS_STAGES, "other", "total"))
        + " |"
        + "".join(f" {stage[:11]:>11}" for stage in (*VIPS_STAGES, "total"))
    )
    for row in rows:
        ours, vips = row["ours"], row.get("vips")
        line = f"  {row['input'][:34]:34}" + "".join(
            f" {ours[stage]:9.1f}" for stage in (*OURS_STAGES, "other", "total")
        )
        line += " |" + (
            "".join(f" {vips[stage]:11.1f}" for stage in (*VIPS_STAGES, "total")) if vips else f" {'n/a':>11}"
        )
        print(line)


def profile_all(named: list[tuple[str, Path]], classed: list[tuple[str, Path]], reps: int) -> list[dict[str, Any]]:
    """A row per named input, then one per class of `classed` inputs (each stage's median over the class's first
    PROFILED_PER_CLASS inputs: the sweep times them all; this says where the time goes)."""
    rows = [_profile_row(name, path.read_bytes(), reps) for name, path in named]
    by_class: dict[str, list[dict[str, Any]]] = {}
    for size, path in classed:
        if len(by_class.get(size, [])) < PROFILED_PER_CLASS:
            by_class.setdefault(size, []).append(_profile_row(path.name, path.read_bytes(), reps))
    for size, members in by_class.items():
        row: dict[str, Any] = {"input": f"class {size}", "ours": _median_stages([m["ours"] for m in members])}
        with_vips = [m["vips"] for m in members if m["vips"]]
        row["vips"] = _median_stages(with_vips) if with_vips else None
        rows.append(row)
    return rows


def _profile_row(name: str, data: bytes, reps: int) -> dict[str, Any]:
    try:
        vips: dict[str, float] | None = profile_vips(data, reps)
    except Exception:  # libvips cannot read it (HEIC): ours alone
        vips = None
    return {"input": name, "ours": profile_ours(data, reps), "vips": vips}


def _median_stages(profiles: list[dict[str, float]]) -> dict[str, float]:
    return {stage: round(statistics.median(profile[stage] for profile in profiles), 2) for stage in profiles[0]}
