"""The README and the docs stay true: their tables match the code and every command they show is run here or by CI
(or says in its comment that it needs AWS or Docker)."""

from __future__ import annotations

import contextlib
import html
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import requests
from PIL import Image

from image_optimizer.local.run import port_taken
from image_optimizer.settings import SETTINGS
from tests.conftest import EVENTS_DIR, ROOT
from tests.integration.test_local import moto_server_process

README = (ROOT / "README.md").read_text()
# Every page a reader may copy a command from: the README and the docs site's pages.
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS = {path.relative_to(ROOT).as_posix(): path.read_text() for path in DOC_FILES}

# Commands the README and docs show that this module runs exactly as written.
RUN_HERE = {
    'make run IMAGES="samples/kodim03.png samples/alpha.webp"',
    "make run ARGS=--watch",
    'make run ARGS="--endpoint-url http://127.0.0.1:9000"',
    ".venv/bin/python -m image_optimizer optimize samples/kodim03.png samples/alpha.webp --out out/cli --json",
    "make lint",
    "make build",
}
# The docs' Django walkthrough (docs/django.md), run as one script by test_django_walkthrough_as_written.
DJANGO_WALKTHROUGH = [
    "make install",
    "cd examples/django_site",
    "export AWS_S3_ENDPOINT_URL=http://127.0.0.1:9000",
    "export AWS_STORAGE_BUCKET_NAME=image-optimizer-local",
    "export AWS_ACCESS_KEY_ID=local",
    "export AWS_SECRET_ACCESS_KEY=local",
    "export AWS_S3_REGION_NAME=us-east-1",
    "../../.venv/bin/python manage.py migrate",
    "../../.venv/bin/python manage.py runserver",
]
RUN_HERE |= set(DJANGO_WALKTHROUGH)
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
    ".venv/bin/python -m pytest -m browser",  # tests/browser, part of make test
    "make checkov",  # tests/infrastructure/test_checkov.py
    "make fuzz SECONDS=10 FORMAT=bmp",  # tests/fuzz/test_fuzz.py
    # tests/integration/test_rerender.py runs it on samples/kodim03.png; the corpus run's figures are in docs/operations.md
    ".venv/bin/python -m benchmarks.from_main samples/kodim03.png",
    ".venv/bin/python -m pytest tests/seaweedfs",  # part of make test
    "make validate",  # tests/infrastructure/test_template.py runs sam validate --lint, what it runs
    # tests/infrastructure/test_build.py runs sam build with Architecture=arm64 and =x86_64, what these run
    "make build ARCH=x86_64",
    ".venv/bin/sam build --parameter-overrides Architecture=x86_64",
    "make docs",  # tests/integration/test_docs.py serves it as written
}
NEEDS_AWS_OR_DOCKER = re.compile(r"needs (AWS|Docker|an AWS account)", re.IGNORECASE)


def sh_blocks(text: str | None = None) -> list[str]:
    """The ```sh blocks of one text, or of every doc file; indented ones (inside a list item) are dedented."""
    texts = [text] if text is not None else list(DOCS.values())
    blocks = []
    for source in texts:
        for indent, block in re.findall(r"^( *)```sh\n(.*?)^ *```", source, re.DOTALL | re.MULTILINE):
            blocks.append("\n".join(line.removeprefix(indent) for line in block.strip("\n").splitlines()).strip())
    return blocks


def shown_commands(text: str | None = None) -> list[tuple[str, str]]:
    commands = []
    for block in sh_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():  # a command continued with a backslash is one command
            command, _, comment = line.partition(" #")
            if command.strip():
                commands.append((re.sub(r"\s+", " ", command.strip()), comment.strip()))
    return commands


def test_every_command_is_run_or_says_what_it_needs() -> None:
    commands = shown_commands()
    assert commands
    for command, comment in commands:
        assert command in RUN_HERE | RUN_ELSEWHERE or NEEDS_AWS_OR_DOCKER.search(comment), command
    assert {command for command, _ in commands} >= RUN_HERE
    assert {command for command, _ in shown_commands(README)} >= {"make run", "make test", "make build", "make deploy"}


def test_every_shell_block_is_checked() -> None:
    """Commands hide nowhere the check above does not look: no shell fences under another name, no indented code
    blocks (the docs' code is fenced, with its language)."""
    for name, text in DOCS.items():
        fences = re.findall(r"^ *```(\w*)", text, re.MULTILINE)
        assert not {"bash", "shell", "console", "zsh", "shell-session"} & set(fences), name
        outside_fences = re.sub(r"^( *)```.*?^ *```", "", text, flags=re.DOTALL | re.MULTILINE)
        indented_code = re.findall(r"\n\n((?:    [^-*\d\s|].*\n)+)", outside_fences)
        assert not [block for block in indented_code if re.match(r"\s*(\.venv/|make |sam |aws |python)", block)], name


def test_django_settings_table_matches_the_storage() -> None:
    from image_optimizer.contrib.django.storage import PREFIX_OPTIONS

    page = DOCS["docs/django.md"]
    rows = re.findall(r"^ *\| `([a-z_]+)` \| `(IMAGE_OPTIMIZER_[A-Z_]+)` \| `([^`]*)` \|", page, re.MULTILINE)
    defaults = {setting.name: setting.default for setting in SETTINGS}
    expected = [(option, django, defaults[function]) for option, (django, function) in PREFIX_OPTIONS.items()]
    expected.append(("thumbnails", "IMAGE_OPTIMIZER_THUMBNAILS", defaults["THUMBNAILS"]))
    expected.append(("extra_formats", "IMAGE_OPTIMIZER_EXTRA_FORMATS", defaults["EXTRA_FORMATS"]))
    assert rows == expected


def test_events_table_lists_every_event_file() -> None:
    for path in EVENTS_DIR.glob("*.json"):
        assert f"`{path.name}`" in DOCS["docs/getting-started.md"]


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
    package = ROOT / ".aws-sam" / "build" / "ImageOptimizerFunction" / "image_optimizer"
    assert (package / "handler.py").is_file()
    assert not (package / "contrib").exists()  # the Django extra stays out of the function


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )


@contextlib.contextmanager
def watching() -> Iterator[str]:
    """`make run ARGS=--watch` as written; yields what it printed up to and including the Django environment.
    Port 9000 must be free first: whatever held it (the server of the test before) has let go, or it is named."""
    deadline = time.monotonic() + 30
    while port_taken(WATCH_PORT):
        if time.monotonic() > deadline:
            holders = subprocess.run(["ss", "-ltnp", f"sport = :{WATCH_PORT}"], capture_output=True, text=True).stdout
            raise AssertionError(f"port {WATCH_PORT} is still taken after 30 s:\n{holders}")
        time.sleep(0.2)
    process = start_group("make -s run ARGS=--watch", stdout=subprocess.PIPE, env={"PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        output = []
        for line in process.stdout:
            output.append(line)
            if "export AWS_S3_REGION_NAME" in line:
                break
        yield "".join(output)
    finally:
        stop_group(process)


def start_group(command: str | list[str], *, stdout: Any, env: dict[str, str]) -> subprocess.Popen[str]:
    """A command (a string runs in the shell) started in the project, in a process group of its own, so
    stop_group ends it and everything it started; stderr goes with stdout; `env` is added to ours."""
    return subprocess.Popen(
        command,
        shell=isinstance(command, str),
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **env},
    )


def stop_group(process: subprocess.Popen[str]) -> None:
    """Ctrl-C first, as a user would; SIGTERM, then SIGKILL, if it does not end (a shell that starts jobs in the
    background makes them ignore SIGINT, and the next test needs port 9000 free). Done when every process of the
    group has ended, not only its leader (`make` exits before the server it started has let go of its port)."""
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            process.poll()  # reaps the leader once it exits (a zombie still counts as in the group)
            try:
                os.killpg(process.pid, 0)  # anyone left in the group?
            except ProcessLookupError:
                return
            time.sleep(0.1)
    raise AssertionError(f"process group {process.pid} outlived SIGKILL")


def test_watch_mode_serves_on_9000_and_processes_new_uploads() -> None:
    with watching() as printed:
        assert "Watching for uploads" in printed
        assert "export AWS_S3_ENDPOINT_URL=http://127.0.0.1:9000" in printed, printed
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


def test_django_walkthrough_as_written(tmp_path: Path) -> None:
    """The docs' Django block, run as a script against `make run ARGS=--watch`; then a browser's form upload."""
    block = next(block for block in sh_blocks() if "manage.py runserver" in block)
    assert block.splitlines() == DJANGO_WALKTHROUGH
    with watching() as printed:
        for line in DJANGO_WALKTHROUGH:
            if line.startswith("export "):
                assert f"  {line}\n" in printed, f"make run ARGS=--watch does not print {line!r}:\n{printed}"
        log = (tmp_path / "site.log").open("w")
        site_env = {"DJANGO_DB_PATH": str(tmp_path / "db.sqlite3"), "PYTHONUNBUFFERED": "1"}
        site = start_group(["bash", "-euc", block], stdout=log, env=site_env)
        try:
            browser = requests.Session()
            page = poll(lambda: browser.get(SITE, timeout=5), lambda response: response.status_code == 200)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            assert token, page.text
            upload = browser.post(
                SITE,
                data={"csrfmiddlewaretoken": token[1], "title": "parrots"},
                files={"image": ("kodim23.png", (ROOT / "samples" / "kodim03.png").read_bytes(), "image/png")},
                headers={"Referer": SITE},
                timeout=30,
            )
            assert upload.status_code == 200 and "parrots" in upload.text, upload.text[:3000]
            shown = poll(lambda: browser.get(SITE, timeout=5), lambda response: 'class="main"' in response.text)
            sources = dict(re.findall(r'<img class="(thumb|small)" src="([^"]+)"', shown.text))
            sources |= {name: url for url, name in re.findall(r'<img src="([^"]+)"[^>]* class="(main)"', shown.text)}
            assert set(sources) == {"main", "thumb", "small"}, shown.text
            sizes = {}
            for name, url in sources.items():
                response = requests.get(html.unescape(url), timeout=10)
                assert response.status_code == 200, url
                with Image.open(io.BytesIO(response.content)) as image:
                    assert image.format == "JPEG"
                    sizes[name] = image.size
            assert sizes == {"main": (750, 500), "thumb": (150, 150), "small": (320, 213)}
            assert "/media/photos/kodim23.jpg?" in sources["main"]
        finally:
            stop_group(site)
            log.close()
        assert "Starting development server at http://127.0.0.1:8000/" in (tmp_path / "site.log").read_text()


SITE = "http://127.0.0.1:8000/"
WATCH_PORT = 9000  # `make run ARGS=--watch`'s, as the docs write it


def poll(fetch: Callable[[], requests.Response], done: Callable[[requests.Response], bool]) -> requests.Response:
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(requests.ConnectionError):
            response = fetch()
            if done(response):
                return response
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_endpoint_url_as_written_against_a_server_on_9000() -> None:
    with moto_server_process(port=9000) as endpoint:
        assert endpoint == "http://127.0.0.1:9000"
        result = run('make run ARGS="--endpoint-url http://127.0.0.1:9000"', timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        media = s3_client(endpoint).list_objects_v2(Bucket="image-optimizer-local", Prefix="media/")["Contents"]
        assert {obj["Key"] for obj in media} >= {"media/kodim03.jpg", "media/landscape_exif6.jpg"}
    assert sys.executable  # the server process is gone; nothing else to clean
