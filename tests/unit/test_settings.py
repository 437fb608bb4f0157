import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from image_optimizer.errors import SettingsError
from image_optimizer.settings import SETTINGS, _cgroup_quota, available_threads, load_settings
from image_optimizer.specs import PipelineConfig, ThumbnailSpec


def test_defaults_match_the_documented_table() -> None:
    settings = load_settings({})
    assert (settings.incoming_prefix, settings.output_prefix, settings.failed_prefix) == (
        "incoming/",
        "media/",
        "failed/",
    )
    assert settings.max_input_bytes == 52_428_800
    pipeline = settings.pipeline
    assert (pipeline.max_width, pipeline.max_height, pipeline.quality) == (750, None, None)
    assert (pipeline.quality_target, pipeline.encoder, pipeline.extra_formats) == (85, "auto", ())
    assert pipeline.thumbnails == (ThumbnailSpec("thumb", 150, 150, "smart"), ThumbnailSpec("small", 320, 320, "fit"))
    assert pipeline.background == (255, 255, 255)
    assert pipeline.threads == available_threads({})  # PIPELINE_THREADS=auto: this machine's CPUs
    # optimize(data) without a config uses these same defaults, on one thread (the same bytes)
    assert replace(pipeline, threads=1) == PipelineConfig()


def test_values_are_parsed() -> None:
    settings = load_settings(
        {
            "MAX_WIDTH": "1200",
            "MAX_HEIGHT": "800",
            "JPEG_QUALITY": "70",
            "THUMBNAILS": "",
            "BACKGROUND_COLOR": "#102030",
            "QUALITY_TARGET": "90",
            "JPEG_ENCODER": "Pillow",
            "EXTRA_FORMATS": " avif, webp ",
        }
    )
    assert (settings.pipeline.quality_target, settings.pipeline.encoder) == (90, "pillow")
    assert settings.pipeline.extra_formats == ("webp", "avif")  # one canonical order
    assert (settings.pipeline.max_width, settings.pipeline.max_height, settings.pipeline.quality) == (1200, 800, 70)
    assert settings.pipeline.thumbnails == ()
    assert settings.pipeline.background == (16, 32, 48)
    assert load_settings({}).event_bus_name == ""
    assert load_settings({"EVENT_BUS_NAME": "default"}).event_bus_name == "default"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JPEG_QUALITY", "96"),
        ("JPEG_QUALITY", "high"),
        ("QUALITY_TARGET", "40"),
        ("JPEG_ENCODER", "mozjpeg"),
        ("EXTRA_FORMATS", "webp,jxl"),
        ("EXTRA_FORMATS", "webp,webp"),
        ("MAX_WIDTH", "0"),
        ("MAX_HEIGHT", "-5"),
        ("THUMBNAILS", "thumb:150"),
        ("BACKGROUND_COLOR", "white"),
        ("INCOMING_PREFIX", "incoming"),
        ("MAX_PIXELS", "lots"),
        ("MAX_INPUT_BYTES", "0"),
        ("EVENT_BUS_NAME", "arn:aws:events:us-east-1:1:event-bus/x"),  # a name, not an ARN
        ("PIPELINE_THREADS", "0"),
        ("PIPELINE_THREADS", "5"),
        ("PIPELINE_THREADS", "many"),
        ("ARCHIVE_PREFIX", "originals"),
        ("ARCHIVE_STORAGE_CLASS", "GLACIER"),  # needs a restore before every read: DEEP_ARCHIVE is the cheaper
        ("ARCHIVE_STORAGE_CLASS", "REDUCED_REDUNDANCY"),
    ],
)
def test_invalid_value_names_the_variable_and_what_it_accepts(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})
    message = str(caught.value)
    accepted = next(setting.accepted for setting in SETTINGS if setting.name == name)
    assert message.startswith(f"{name}=") and accepted in message and "\n" not in message


def test_overlapping_prefixes_are_refused() -> None:
    with pytest.raises(SettingsError, match="must not overlap"):
        load_settings({"OUTPUT_PREFIX": "incoming/media/"})


def test_the_archive_is_off_unless_a_prefix_is_set() -> None:
    assert load_settings({}).archive_prefix == ""
    on = load_settings({"ARCHIVE_PREFIX": "originals/", "ARCHIVE_STORAGE_CLASS": "deep_archive"})
    assert (on.archive_prefix, on.archive_storage_class) == ("originals/", "DEEP_ARCHIVE")
    assert load_settings({"ARCHIVE_PREFIX": "originals/"}).archive_storage_class == "GLACIER_IR"


@pytest.mark.parametrize("archive", ["incoming/originals/", "media/", "failed/old/", "in/"])
def test_an_archive_prefix_overlapping_another_is_refused(archive: str) -> None:
    """Inside incoming/ it would trigger the function on every copy (the recursion guard)."""
    with pytest.raises(SettingsError, match="ARCHIVE_PREFIX must not overlap"):
        load_settings({"ARCHIVE_PREFIX": archive, "INCOMING_PREFIX": "in/" if archive == "in/" else "incoming/"})


def test_bad_setting_fails_the_cold_start() -> None:
    # Given a bad value in the environment, importing the handler (Lambda's init phase) fails with that name.
    result = subprocess.run(
        [sys.executable, "-c", "import image_optimizer.handler"],
        env={"JPEG_QUALITY": "0", "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "JPEG_QUALITY='0' is invalid" in result.stderr


@pytest.mark.parametrize(
    ("memory_mb", "threads"),
    [("128", 1), ("1024", 1), ("1769", 1), ("2653", 1), ("2654", 2), ("3538", 2), ("4423", 3), ("10240", 4)],
)
def test_on_lambda_the_thread_count_follows_the_memory_size(memory_mb: str, threads: int) -> None:
    """One vCPU's worth per 1,769 MB, rounded; Lambda's OS shows 2+ CPUs at any size, so they are not counted."""
    environ = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory_mb}
    assert load_settings(environ).pipeline.threads == threads
    assert load_settings({**environ, "PIPELINE_THREADS": "3"}).pipeline.threads == 3  # set: used as it is
    assert load_settings({**environ, "PIPELINE_THREADS": "AUTO"}).pipeline.threads == threads


@pytest.mark.parametrize(
    ("cpus", "quota", "threads"),
    [(1, None, 1), (2, None, 2), (8, None, 4), (8, 1.5, 2), (8, 1.4, 1), (2, 3.0, 2), (4, 0.5, 1)],
)
def test_off_lambda_the_thread_count_is_the_usable_cpus_within_any_cgroup_quota(
    cpus: int, quota: float | None, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from image_optimizer import settings

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    monkeypatch.setattr(settings, "_cgroup_quota", lambda: quota)
    assert available_threads({}) == threads
    assert load_settings({}).pipeline.threads == threads  # auto, the default


def test_the_cgroup_quota_is_read_from_cpu_max(tmp_path: Path) -> None:
    limit = tmp_path / "cpu.max"
    limit.write_text("150000 100000\n")
    assert _cgroup_quota(str(limit)) == 1.5
    limit.write_text("max 100000\n")
    assert _cgroup_quota(str(limit)) is None
    assert _cgroup_quota(str(tmp_path / "absent")) is None
