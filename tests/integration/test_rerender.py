"""`python -m image_optimizer rerender` on moto: a new size reaches every archived upload without rewriting the
renditions it does not change; --prune; --from-main; DEEP_ARCHIVE refused once; --manifest; the Batch Operations
path."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from image_optimizer import handler
from image_optimizer.__main__ import main
from image_optimizer.aws.storage import S3Storage
from image_optimizer.settings import load_settings
from tests.conftest import BUCKET, ROOT, gradient, jpeg_bytes, keys, png_bytes
from tests.integration.test_handler import put

DEFAULT_THUMBNAILS = "thumb:150x150:crop,small:320x320:fit"
WIDE = DEFAULT_THUMBNAILS + ",wide:600x300:crop"
UPLOADS = {
    "incoming/a/one.png": png_bytes(gradient(1200, 800)),
    "incoming/b/two.jpg": jpeg_bytes(gradient(800, 1200), quality=92),
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the settings the function and the command share, as a deploy would (ARCHIVE_PREFIX=originals/)."""
    values = {"ARCHIVE_PREFIX": "originals/", "THUMBNAILS": DEFAULT_THUMBNAILS}

    def apply(**changes: str) -> None:
        values.update(changes)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(handler, "settings", load_settings(values))
        handler.get_service.cache_clear()

    apply()
    return apply


def process(s3: Any, context: Any, uploads: dict[str, bytes] = UPLOADS) -> None:
    for key, data in uploads.items():
        [result] = handler.lambda_handler(put(s3, key, data), context)["results"]
        assert result["status"] == "processed"


def state(s3: Any) -> dict[str, tuple[str, Any]]:
    """Every rendition's ETag and LastModified."""
    return {
        key: (head["ETag"], head["LastModified"])
        for key in keys(s3, "media/")
        for head in [s3.head_object(Bucket=BUCKET, Key=key)]
    }


def rerender(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    """The command in this process (moto intercepts its client): exit code, its JSON lines, stderr."""
    capsys.readouterr()  # not the function's own log lines
    code = main(["rerender", "--bucket", BUCKET, "--json", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


@pytest.fixture
def puts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the service PUTs from here on, attempts included (an identical rewrite would keep the ETag,
    so look at the calls)."""
    written: list[str] = []
    real = S3Storage.put

    def recording(self: S3Storage, bucket: str, key: str, *args: Any, **kwargs: Any) -> None:
        written.append(key)
        real(self, bucket, key, *args, **kwargs)

    monkeypatch.setattr(S3Storage, "put", recording)
    return written


def test_a_new_size_reaches_every_upload_and_leaves_the_other_renditions_alone(
    s3: Any, context: Any, env: Callable[..., None], puts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    process(s3, context)
    before = state(s3)
    puts.clear()
    env(THUMBNAILS=WIDE)
    code, lines, _ = rerender(capsys)
    assert code == 0
    assert sorted(puts) == ["media/a/one_wide.jpg", "media/b/two_wide.jpg"]  # nothing else written
    after = state(s3)
    assert {key: after[key] for key in before} == before  # same ETag and LastModified
    for key in ("media/a/one_wide.jpg", "media/b/two_wide.jpg"):
        assert s3.head_object(Bucket=BUCKET, Key=key)["ContentType"] == "image/jpeg"
    uploads = [line for line in lines if "summary" not in line]
    assert {line["key"] for line in uploads} == set(UPLOADS)
    assert all(line["status"] == "re-rendered" for line in uploads)
    assert lines[-1]["summary"] == {"re-rendered": 2, "unchanged": 0, "pruned": 0, "failed": 0}

    puts.clear()
    code, lines, _ = rerender(capsys)  # again: nothing to do
    assert (code, puts) == (0, [])
    assert lines[-1]["summary"] == {"re-rendered": 0, "unchanged": 2, "pruned": 0, "failed": 0}


def test_dropped_sizes_are_listed_and_removed_only_with_prune(
    s3: Any, context: Any, env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    process(s3, context)
    # a rendition of another upload that happens to look like a thumbnail of one/: never touched
    s3.put_object(Bucket=BUCKET, Key="media/a/one_small.webp", Body=b"someone else's")
    env(THUMBNAILS="thumb:150x150:crop")
    code, lines, _ = rerender(capsys)
    assert code == 0
    assert "media/a/one_small.jpg" in keys(s3, "media/")
    assert lines[-1]["summary"] == {
        "re-rendered": 0,
        "unchanged": 2,
        "pruned": 0,
        "failed": 0,
        "no longer named, kept": 2,
    }
    assert {tuple(line["unnamed"]) for line in lines[:-1]} == {("media/a/one_small.jpg",), ("media/b/two_small.jpg",)}

    code, lines, _ = rerender(capsys, "--prune")
    assert code == 0
    assert lines[-1]["summary"] == {"re-rendered": 0, "unchanged": 2, "pruned": 2, "failed": 0}
    assert keys(s3, "media/") == [
        "media/a/one.jpg",
        "media/a/one_small.webp",
        "media/a/one_thumb.jpg",
        "media/b/two.jpg",
        "media/b/two_thumb.jpg",
    ]


def test_the_summary_table_and_a_prefix(
    s3: Any, context: Any, env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    process(s3, context)
    env(THUMBNAILS=WIDE)
    capsys.readouterr()
    assert main(["rerender", "--bucket", BUCKET, "--prefix", "b/"]) == 0
    out, err = capsys.readouterr()
    assert "1/1 re-rendered: incoming/b/two.jpg" in err  # not a terminal: one line per upload
    assert out.split() == ["re-rendered", "1", "unchanged", "0", "pruned", "0", "failed", "0"]
    assert "media/b/two_wide.jpg" in keys(s3, "media/")
    assert "media/a/one_wide.jpg" not in keys(s3, "media/")


def test_deep_archive_is_refused_once_before_any_work(
    s3: Any, context: Any, env: Callable[..., None], puts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    env(ARCHIVE_STORAGE_CLASS="DEEP_ARCHIVE")
    process(s3, context)
    assert s3.head_object(Bucket=BUCKET, Key="originals/a/one.png")["StorageClass"] == "DEEP_ARCHIVE"
    puts.clear()
    env(THUMBNAILS=WIDE)
    code, lines, err = rerender(capsys)
    assert (code, lines, puts) == (2, [], [])
    assert err.count("error:") == 1
    assert "2 of 2 originals are in DEEP_ARCHIVE and not restored" in err and "Restore them first" in err


def test_manifest_lists_the_archive_keys_and_prints_the_job_command(
    s3: Any, context: Any, env: Callable[..., None], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    process(s3, context, {"incoming/été 2019/la plage+.png": png_bytes(gradient(300, 200))})
    manifest = tmp_path / "rerender.csv"
    capsys.readouterr()
    assert main(["rerender", "--bucket", BUCKET, "--manifest", str(manifest)]) == 0
    out = capsys.readouterr().out
    with manifest.open() as file:
        assert list(csv.reader(file)) == [[BUCKET, "originals/%C3%A9t%C3%A9%202019/la%20plage%2B.png"]]
    assert f"aws s3 cp {manifest} s3://{BUCKET}/batch/rerender.csv" in out
    assert "aws s3control create-job" in out and '"InvocationSchemaVersion":"2.0"' in out


def test_the_batch_operations_path_rerenders_archive_keys(s3: Any, context: Any, env: Callable[..., None]) -> None:
    process(s3, context)
    env(THUMBNAILS=WIDE)
    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "abc",
        "job": {"id": "job", "userArguments": {}},
        "tasks": [{"taskId": "t1", "s3Key": "originals/a/one.png", "s3VersionId": None, "s3Bucket": BUCKET}],
    }
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["resultCode"] == "Succeeded"
    assert result["resultString"].startswith("processed: re-rendered: wrote media/a/one_wide.jpg")
    assert "media/a/one_wide.jpg" in keys(s3, "media/")
    assert keys(s3, "incoming/") == []


def test_from_main_derives_what_the_main_image_can_give_and_marks_it(
    s3: Any, context: Any, env: Callable[..., None], puts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    env(ARCHIVE_PREFIX="")  # uploads that predate the archive
    process(s3, context)
    before = state(s3)
    puts.clear()
    env(THUMBNAILS=WIDE + ",huge:2000x2000:fit")
    code, lines, _ = rerender(capsys, "--from-main")
    assert code == 0
    assert sorted(puts) == ["media/a/one_wide.jpg", "media/b/two_wide.jpg"]
    assert {key: state(s3)[key] for key in before} == before
    wide = s3.head_object(Bucket=BUCKET, Key="media/a/one_wide.jpg")
    assert wide["Metadata"]["derived-from"] == "media/a/one.jpg"
    assert wide["Metadata"]["source-key"] == "incoming/a/one.png"
    from PIL import Image

    assert Image.open(s3.get_object(Bucket=BUCKET, Key="media/a/one_wide.jpg")["Body"]).size == (600, 300)
    assert all(line["needs_original"] == ["huge"] for line in lines[:-1])
    assert lines[-1]["summary"]["re-rendered"] == 2

    puts.clear()
    code, lines, _ = rerender(capsys, "--from-main")  # again: only `huge` is missing, and it cannot be derived
    assert (code, puts) == (0, [])
    assert lines[-1]["summary"] == {"re-rendered": 0, "unchanged": 2, "pruned": 0, "failed": 0}


def run_module_in(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )


def test_the_from_main_measurement_runs_as_the_readme_shows() -> None:
    """`python -m benchmarks.from_main IMAGE` (README): one more JPEG generation costs the derived thumbnails."""
    result = run_module_in("benchmarks.from_main", "samples/kodim03.png")
    assert result.returncode == 0, result.stderr
    summary = {line.split()[0]: line.split() for line in result.stdout.splitlines() if " n=1 " in line}
    assert set(summary) == {"thumb", "small", "wide"}
    assert float(summary["wide"][3]) < 0  # the mean: derived from the main scores below made from the original


def test_usage_errors_are_one_line_and_exit_2(
    s3: Any, env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["rerender", "--bucket", "no-such-bucket"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot list s3://no-such-bucket/originals/: ")
    env(ARCHIVE_PREFIX="")
    assert main(["rerender", "--bucket", BUCKET]) == 2
    assert "ARCHIVE_PREFIX is not set" in capsys.readouterr().err


def test_a_rerender_places_new_crops_on_the_uploads_focal_point(
    s3: Any, context: Any, env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """The client's x-amz-meta-focus travels with the archive copy: a crop added later is centred on it too."""
    data = png_bytes(gradient(1200, 800))
    response = s3.put_object(Bucket=BUCKET, Key="incoming/f.png", Body=data, Metadata={"focus": "0.9,0.5"})
    event = put(s3, "incoming/other.png", data)  # an event shape to reuse, for f.png's object
    record = event["Records"][0]["s3"]["object"]
    record.update(key="incoming/f.png", eTag=response["ETag"].strip('"'), size=len(data))
    [result] = handler.lambda_handler(event, context)["results"]
    assert result["status"] == "processed"
    assert s3.head_object(Bucket=BUCKET, Key="originals/f.png")["Metadata"]["focus"] == "0.9000,0.5000"
    env(THUMBNAILS=DEFAULT_THUMBNAILS + ",tall:100x300:crop")
    code, lines, _ = rerender(capsys)
    assert code == 0 and any(line.get("status") == "re-rendered" for line in lines)
    window = s3.head_object(Bucket=BUCKET, Key="media/f_tall.jpg")["Metadata"]["window"]
    x0, _, x1, _ = map(float, window.split(","))
    assert x1 == 1200 and x0 > 900  # a 1:3 window pushed as far right as the image allows, towards x = 0.9 (1080 px)
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="incoming/f.png").get("KeyCount")
