"""The README stays true: its tables match the code and every command it shows is run here or by CI."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import boto3

from image_optimizer.settings import SETTINGS
from tests.conftest import EVENTS_DIR, ROOT
from tests.integration.test_local import moto_server_process

README = (ROOT / "README.md").read_text()

# Commands the README shows that this module runs exactly as written.
RUN_HERE = {
    'make run IMAGES="samples/kodim03.png samples/alpha.webp"',
    "make run ARGS=--watch",
    'make run ARGS="--endpoint-url http://127.0.0.1:9000"',
    ".venv/bin/python -m image_optimizer optimize samples/kodim03.png samples/alpha.webp --out out/cli --json",
    "make lint",
    "make build",
}
# Run elsewhere: CI runs `make test` (a superset of `make unit` and `make test-infra`); tests/integration/test_local.py
# runs `make run` and `make invoke-local` for every event file.
RUN_ELSEWHERE = {
    "make run",
    "make test",
    "make unit",
    "make test-infra",
    "make invoke-local EVENT=events/s3-put.json",
    "make bench BENCH_DIR=samples",  # tests/integration/test_bench.py runs both
    "make bench",
}
NEEDS_AWS_OR_DOCKER = re.compile(r"needs (AWS|Docker|an AWS account)", re.IGNORECASE)


def shown_commands() -> list[tuple[str, str]]:
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        for line in block.strip().splitlines():
            command, _, comment = line.partition(" #")
            commands.append((command.strip(), comment.strip()))
    return commands


def test_every_command_is_run_or_says_what_it_needs() -> None:
    commands = shown_commands()
    assert commands
    for command, comment in commands:
        assert command in RUN_HERE | RUN_ELSEWHERE or NEEDS_AWS_OR_DOCKER.search(comment), command
    assert {command for command, _ in commands} >= RUN_HERE


def test_settings_table_matches_the_code() -> None:
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \|", README, re.MULTILINE))
    assert set(rows) == {setting.name for setting in SETTINGS}
    for setting in SETTINGS:
        shown = rows[setting.name].strip()
        assert shown == (f"`{setting.default}`" if setting.default else "(unset)"), setting.name


def test_events_table_lists_every_event_file() -> None:
    for path in EVENTS_DIR.glob("*.json"):
        assert f"`{path.name}`" in README


def run(command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_make_run_with_images_cli_and_lint_as_written() -> None:
    result = run('make run IMAGES="samples/kodim03.png samples/alpha.webp"')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2/2 uploads reached an end state" in result.stdout
    cli = run(
        ".venv/bin/python -m image_optimizer optimize samples/kodim03.png samples/alpha.webp --out out/cli --json"
    )
    assert cli.returncode == 0, cli.stderr
    assert (ROOT / "out" / "cli" / "kodim03_thumb.jpg").is_file()
    lint = run("make lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_make_build_as_written() -> None:
    result = run("make build")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (ROOT / ".aws-sam" / "build" / "ImageOptimizerFunction" / "image_optimizer" / "handler.py").is_file()


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )


def test_watch_mode_serves_on_9000_and_processes_new_uploads() -> None:
    process = subprocess.Popen(
        "make -s run ARGS=--watch",
        shell=True,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        output = []
        for line in process.stdout:
            output.append(line)
            if "Watching for uploads" in line:
                break
        text = "".join(output)
        assert "export AWS_S3_ENDPOINT_URL=http://127.0.0.1:9000" in "".join(
            output + [process.stdout.readline() for _ in range(3)]
        ), text
        s3 = s3_client("http://127.0.0.1:9000")
        s3.put_object(
            Bucket="image-optimizer-local",
            Key="incoming/later/new.png",
            Body=(ROOT / "samples" / "kodim03.png").read_bytes(),
        )
        deadline = time.monotonic() + 60
        keys: list[str] = []
        while time.monotonic() < deadline:
            keys = [
                obj["Key"]
                for obj in s3.list_objects_v2(Bucket="image-optimizer-local", Prefix="media/later/").get("Contents", [])
            ]
            if len(keys) == 3:
                break
            time.sleep(0.5)
        assert sorted(keys) == ["media/later/new.jpg", "media/later/new_small.jpg", "media/later/new_thumb.jpg"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)


def test_endpoint_url_as_written_against_a_server_on_9000() -> None:
    with moto_server_process(port=9000) as endpoint:
        assert endpoint == "http://127.0.0.1:9000"
        result = run('make run ARGS="--endpoint-url http://127.0.0.1:9000"', timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        media = s3_client(endpoint).list_objects_v2(Bucket="image-optimizer-local", Prefix="media/")["Contents"]
        assert {obj["Key"] for obj in media} >= {"media/kodim03.jpg", "media/landscape_exif6.jpg"}
    assert sys.executable  # the server process is gone; nothing else to clean
