"""Timing many variants on one input, interleaved, so that machine noise hits them alike."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping

Variant = Callable[[bytes], list[bytes]]


def usable_variants(data: bytes, variants: Mapping[str, Variant]) -> tuple[dict[str, Variant], dict[str, list[bytes]]]:
    """The variants that can read this file (pyvips-binary has no HEVC decoder, so no HEIC for libvips), and
    what each produced. Running each once is also the warm-up: imports, caches, first-touch allocations."""
    usable, outputs = {}, {}
    for name, function in variants.items():
        try:
            outputs[name] = function(data)
        except Exception as error:
            print(f"    {name}: cannot process this file ({type(error).__name__}: {str(error)[:80]})", file=sys.stderr)
            continue
        usable[name] = function
    return usable, outputs


def time_variants(data: bytes, reps: int, variants: Mapping[str, Variant]) -> dict[str, float]:
    """Median seconds per variant over `reps` rounds, each round running every variant once."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(reps):
        for name, function in variants.items():
            started = time.perf_counter()
            function(data)
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}
