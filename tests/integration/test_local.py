"""The README's local commands, run as written: `make run`, `make invoke-local`, and a real S3 server process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import EVENTS_DIR, ROOT, SAMPLES_DIR, gradient, png_bytes, run_module

SAMPLE_STEMS = sorted(path.stem for path in SAMPLES_DIR.iterdir() if path.suffix in {".jpg", ".png", ".webp", ".heic"})


def make(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_make_run_processes_every_sample_and_downloads_media(tmp_path: Path) -> None:
    result = make("run", f"ARGS=--out {tmp_path}")
    assert result.returncode == 0, result.stdout + result.stderr
    for stem in SAMPLE_STEMS:
        assert stem in result.stdout
        for suffix in ("", "_thumb", "_small"):
            image = Image.open(tmp_path / f"{stem}{suffix}.jpg")
            assert image.format == "JPEG"
        assert Image.open(tmp_path / f"{stem}.jpg").width <= 750
    assert f"{len(SAMPLE_STEMS)}/{len(SAMPLE_STEMS)} uploads reached an end state" in result.stdout


def test_make_run_with_given_images_exits_1_when_one_is_rejected(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(gradient(900, 600)))
    bad = tmp_path / "bad.jpg"
    bad.write_text("<html>not an image</html>")
    result = run_module("run", str(good), str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert make("run", f"IMAGES={good} {bad}", f"ARGS=--out {tmp_path / 'out2'}").returncode != 0
    assert "rejected" in result.stdout and "HTML" in result.stdout
    assert (tmp_path / "out" / "good.jpg").is_file()


@pytest.mark.parametrize("event", sorted(path.name for path in EVENTS_DIR.glob("*.json")))
def test_make_invoke_local_runs_each_event(event: str) -> None:
    result = make("invoke-local", f"EVENT=events/{event}")
    assert result.returncode == 0, result.stdout + result.stderr
    if "outside-prefix" in event or "test-event" in event:
        assert '"ignored"' in result.stdout
    elif "batch-operations" in event:
        assert '"resultCode": "Succeeded"' in result.stdout and "media/" in result.stdout
    elif event.startswith("sqs"):
        assert '"batchItemFailures": []' in result.stdout and "media/photos/second.jpg" in result.stdout
    else:
        assert '"processed"' in result.stdout and "media/" in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server_process(port: int | None = None) -> Iterator[str]:
    """A real S3 server in its own process (moto's server mode) on 127.0.0.1, stopped afterwards."""
    if port:  # a fixed port: whatever held it before (a server being stopped) must have let go first
        deadline = time.monotonic() + 30
        while _listening(port):
            assert time.monotonic() < deadline, f"port {port} is still taken"
            time.sleep(0.1)
    port = port or free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while server.poll() is None and not _listening(port):
            assert time.monotonic() < deadline, f"moto_server is not listening on {port} after 60 s"
            time.sleep(0.1)
        # Listening, and it is this process that listens (one that found the port taken has exited).
        assert server.poll() is None, f"moto_server exited with {server.returncode}: port {port} taken?"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.server
def test_run_against_a_separate_s3_server_process(tmp_path: Path) -> None:
    with moto_server_process() as endpoint:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
        images = [str(sorted(SAMPLES_DIR.glob("*.jpg"))[0])]
        result = run_module("run", *images, "--endpoint-url", endpoint, "--out", str(tmp_path), env=env, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        listed = sorted(obj["Key"] for obj in s3.list_objects_v2(Bucket="image-optimizer-local")["Contents"])
        stem = Path(images[0]).stem
        assert listed == [f"media/{stem}.jpg", f"media/{stem}_small.jpg", f"media/{stem}_thumb.jpg"]
        head = s3.head_object(Bucket="image-optimizer-local", Key=f"media/{stem}.jpg")
        assert (
            head["ContentType"] == "image/jpeg" and head["Metadata"]["source-key"] == f"incoming/{Path(images[0]).name}"
        )


@pytest.mark.timeout(60)  # the failure this guards against was a wait for ever
def test_run_on_a_taken_port_says_so_instead_of_waiting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from image_optimizer.local import run

    with socket.socket() as holder:  # another program listening on the port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        status = run.run([], watch=True, endpoint_url=None, bucket="image-optimizer-local", port=port, out=tmp_path)
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        f"error: port {port} on 127.0.0.1 is in use (another `make run ARGS=--watch`?): stop it or pass --port"
    )
