"""PIPELINE_THREADS > 1: thumbnails are rendered, and WebP/AVIF siblings encoded, on other threads while the main
JPEG is searched and encoded. The bytes are the same at any thread count; the work really overlaps."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from PIL import Image

from image_optimizer import pipeline
from image_optimizer.errors import CorruptImage
from image_optimizer.specs import MAIN, PipelineConfig
from tests.conftest import SAMPLES_DIR, gradient, jpeg_bytes

FIXTURES = SAMPLES_DIR.parent / "tests" / "fixtures"


def adobe_rgb_png() -> bytes:
    """Tagged with a non-sRGB profile: `finish` converts colour on the thumbnails' thread too."""
    buffer = io.BytesIO()
    gradient(900, 600).save(buffer, "PNG", icc_profile=(FIXTURES / "AdobeRGB1998.icc").read_bytes())
    return buffer.getvalue()


CASES = {
    "jpeg, orientation 6": ((SAMPLES_DIR / "landscape_exif6.jpg").read_bytes(), PipelineConfig()),
    "png": ((SAMPLES_DIR / "kodim03.png").read_bytes(), PipelineConfig()),
    "webp with alpha": ((SAMPLES_DIR / "alpha.webp").read_bytes(), PipelineConfig()),
    "heic, siblings": ((SAMPLES_DIR / "iphone8plus.heic").read_bytes(), PipelineConfig(extra_formats=("webp", "avif"))),
    # a main too small to derive the thumbnails from: each is rendered from the working image, colour and all
    "adobe rgb, small main": (adobe_rgb_png(), PipelineConfig(max_width=120, extra_formats=("webp",))),
}


@pytest.mark.parametrize("case", CASES)
def test_the_outputs_are_the_same_at_any_thread_count(case: str) -> None:
    data, config = CASES[case]
    outputs = {
        threads: [(r.name, r.format, r.data) for r in pipeline.optimize(data, _with(config, threads)).renditions]
        for threads in (1, 2, 3)
    }
    assert outputs[1] and outputs[2] == outputs[1] and outputs[3] == outputs[1]


def _with(config: PipelineConfig, threads: int) -> PipelineConfig:
    from dataclasses import replace

    return replace(config, threads=threads)


def meeting(monkeypatch: pytest.MonkeyPatch, name: str, arrive: Any) -> Any:
    """Wrap pipeline.`name` so that the call `arrive` picks waits at a 2-party barrier: it is passed only when
    the other party arrives meanwhile, from another thread. One after the other, it times out."""
    barrier = threading.Barrier(2, timeout=10)
    real = getattr(pipeline, name)
    threads: set[int] = set()

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if arrive(*args, **kwargs):
            threads.add(threading.get_ident())
            barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, name, wrapped)
    return barrier, threads


def test_thumbnails_are_rendered_while_the_main_image_is_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    barrier, threads = meeting(monkeypatch, "encode", lambda image, plan, *_, **__: plan.name == MAIN)
    monkeypatch.setattr(pipeline, "resize", _arriving_at(barrier, threads, pipeline.resize, lambda plan: plan.name))
    pipeline.optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(threads=2))
    assert len(threads) == 2
    with pytest.raises(threading.BrokenBarrierError):  # one thread: the thumbnails come first, and wait alone
        barrier.reset()
        pipeline.optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(threads=1))


def _arriving_at(barrier: threading.Barrier, threads: set[int], real: Any, name_of: Any) -> Any:
    """pipeline.resize for a thumbnail meets the main image's encoding at `barrier` (once)."""
    met: list[bool] = []

    def resize(image: Image.Image, plan: pipeline.Plan, *rest: Any) -> Image.Image:
        if name_of(plan) != MAIN and not met:
            met.append(True)
            threads.add(threading.get_ident())
            barrier.wait()
        return real(image, plan, *rest)

    return resize


def test_siblings_are_encoded_while_the_main_jpeg_is(monkeypatch: pytest.MonkeyPatch) -> None:
    barrier, threads = meeting(monkeypatch, "encode", lambda image, plan, *_, **__: plan.name == MAIN)
    real_extra = pipeline.encode_extra

    def encode_extra(image: Image.Image, fmt: str, *, thumbnail: bool) -> bytes:
        if not thumbnail:
            threads.add(threading.get_ident())
            barrier.wait()
        return real_extra(image, fmt, thumbnail=thumbnail)

    monkeypatch.setattr(pipeline, "encode_extra", encode_extra)
    result = pipeline.optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(threads=2, extra_formats=("webp",)))
    assert [r.format for r in result.renditions] == ["jpeg"] * 3 + ["webp"] * 3
    assert len(threads) == 2


def test_a_failure_on_another_thread_is_raised_and_leaves_no_thread_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(image: Image.Image, fmt: str, *, thumbnail: bool) -> bytes:
        raise CorruptImage(f"cannot encode {fmt}")

    monkeypatch.setattr(pipeline, "encode_extra", broken)
    before = threading.active_count()
    with pytest.raises(CorruptImage, match="cannot encode webp"):
        pipeline.optimize(jpeg_bytes(gradient(800, 600)), PipelineConfig(threads=3, extra_formats=("webp",)))
    assert threading.active_count() == before
