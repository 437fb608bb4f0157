"""PIPELINE_THREADS > 1: thumbnails are rendered, and WebP/AVIF siblings encoded, on other threads while the main
JPEG is searched and encoded. The bytes are the same at any thread count; the work really overlaps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image

from image_optimizer.errors import CorruptImage
from image_optimizer.imaging import pipeline
from image_optimizer.specs import MAIN, PipelineConfig
from tests.conftest import FIXTURES_DIR, SAMPLES_DIR, gradient, jpeg_bytes, png_bytes


def adobe_rgb_png() -> bytes:
    """Tagged with a non-sRGB profile: `finish` converts colour on the thumbnails' thread too."""
    return png_bytes(gradient(900, 600), icc_profile=(FIXTURES_DIR / "AdobeRGB1998.icc").read_bytes())


def sample(name: str) -> Callable[[], bytes]:
    return lambda: (SAMPLES_DIR / name).read_bytes()


# name -> (the upload, made when its test runs; config)
CASES: dict[str, tuple[Callable[[], bytes], PipelineConfig]] = {
    "jpeg, orientation 6": (sample("landscape_exif6.jpg"), PipelineConfig()),
    "png": (sample("kodim03.png"), PipelineConfig()),
    "webp with alpha": (sample("alpha.webp"), PipelineConfig()),
    "heic, siblings": (sample("iphone8plus.heic"), PipelineConfig(extra_formats=("webp", "avif"))),
    # a main too small to derive the thumbnails from: each is rendered from the working image, colour and all
    "adobe rgb, small main": (adobe_rgb_png, PipelineConfig(max_width=120, extra_formats=("webp",))),
}


@pytest.mark.parametrize("case", CASES)
def test_the_outputs_are_the_same_at_any_thread_count(case: str) -> None:
    upload, config = CASES[case]
    data = upload()
    outputs = {
        threads: [
            (r.name, r.format, r.data) for r in pipeline.optimize(data, replace(config, threads=threads)).renditions
        ]
        for threads in (1, 2, 3)
    }
    assert outputs[1] and outputs[2] == outputs[1] and outputs[3] == outputs[1]


class Meeting:
    """Two calls that must be in progress at the same time, on two threads: each waits at a 2-party barrier until
    the other arrives. The timeout only bounds a failure; a passing run never waits for it."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=30)
        self.threads: set[int] = set()

    def wrap(self, real: Any, arrives: Any) -> Any:
        met: list[bool] = []

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if arrives(*args, **kwargs) and not met:
                met.append(True)
                self.threads.add(threading.get_ident())
                self.barrier.wait()
            return real(*args, **kwargs)

        return wrapped


def is_main(_image: Image.Image, name: str, *_: Any, **__: Any) -> bool:
    return name == MAIN


def test_thumbnails_are_rendered_while_the_main_image_is_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    meeting = Meeting()
    monkeypatch.setattr(pipeline, "encode", meeting.wrap(pipeline.encode, is_main))
    monkeypatch.setattr(pipeline, "resize", meeting.wrap(pipeline.resize, lambda i, plan, *_: plan.name != MAIN))
    pipeline.optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(threads=2))
    assert len(meeting.threads) == 2


def test_siblings_are_encoded_while_the_main_jpeg_is(monkeypatch: pytest.MonkeyPatch) -> None:
    meeting = Meeting()
    monkeypatch.setattr(pipeline, "encode", meeting.wrap(pipeline.encode, is_main))
    main_sibling = meeting.wrap(pipeline.encode_extra, lambda image, fmt, *, thumbnail: not thumbnail)
    monkeypatch.setattr(pipeline, "encode_extra", main_sibling)
    result = pipeline.optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(threads=2, extra_formats=("webp",)))
    assert [r.format for r in result.renditions] == ["jpeg"] * 3 + ["webp"] * 3
    assert len(meeting.threads) == 2


def test_the_main_images_sibling_does_not_wait_for_the_thumbnails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three threads: the main image's WebP is encoded while the thumbnails are still being resampled."""
    meeting = Meeting()
    main_sibling = meeting.wrap(pipeline.encode_extra, lambda image, fmt, *, thumbnail: not thumbnail)
    monkeypatch.setattr(pipeline, "encode_extra", main_sibling)
    monkeypatch.setattr(pipeline, "resize", meeting.wrap(pipeline.resize, lambda i, plan, *_: plan.name != MAIN))
    pipeline.optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(threads=3, extra_formats=("webp",)))
    assert len(meeting.threads) == 2


def test_one_thread_does_everything_in_turn_on_the_callers_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    def recording(name: str, real: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, threading.get_ident()))
            return real(*args, **kwargs)

        return wrapped

    for name in ("encode", "resize", "encode_extra"):
        monkeypatch.setattr(pipeline, name, recording(name, getattr(pipeline, name)))
    pipeline.optimize(jpeg_bytes(gradient(1600, 1000)), PipelineConfig(threads=1, extra_formats=("webp",)))
    assert {thread for _, thread in calls} == {threading.get_ident()}
    # main resampled, thumbnails resampled, the siblings, then the JPEGs: main first
    assert [name for name, _ in calls] == ["resize"] * 3 + ["encode_extra"] * 3 + ["encode"] * 3


def test_a_failure_on_another_thread_is_raised_and_leaves_no_thread_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(image: Image.Image, fmt: str, *, thumbnail: bool) -> bytes:
        raise CorruptImage(f"cannot encode {fmt}")

    monkeypatch.setattr(pipeline, "encode_extra", broken)
    before = threading.active_count()
    with pytest.raises(CorruptImage, match="cannot encode webp"):
        pipeline.optimize(jpeg_bytes(gradient(800, 600)), PipelineConfig(threads=3, extra_formats=("webp",)))
    assert threading.active_count() == before
