"""Headless Chromium for the example site: Debian's `chromium` and `chromium-driver`, installed with apt when missing
(so `make test` passes on a clean machine), driven by selenium through the system chromedriver (selenium-manager
is never asked to download anything: the driver and browser paths are given, SE_OFFLINE is set).

S3 is moto's server in this process, with a gate in front: while it is closed, the browser's GETs of renditions
wait, so the page can be looked at with its placeholders painted and its images not yet there."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from image_optimizer import handler
from image_optimizer.local.run import s3_event
from tests.conftest import ROOT, FakeContext

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")
ARTIFACTS = ROOT / "artifacts" / "browser"  # screenshots of each state (gitignored)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1000,1100",
)


def install_chromium() -> None:
    """apt-get the two packages (as root, or through password-less sudo); fails the session when it cannot."""
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if prefix and not shutil.which("sudo"):
        pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing: run `apt-get install {' '.join(PACKAGES)}` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]):
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        install_chromium()
    assert CHROMIUM.exists() and CHROMEDRIVER.exists()
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture
def browser(chromium: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_selenium_manager(*args: Any) -> Any:
        raise AssertionError("selenium-manager was called: it may download a browser or a driver")

    monkeypatch.setattr(SeleniumManager, "binary_paths", no_selenium_manager)  # the Service path skips it
    monkeypatch.setenv("SE_OFFLINE", "true")  # and were it called anyway: no downloads
    binary, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    options.page_load_strategy = "eager"  # images held at the gate must not hold up get()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    service = Service(executable_path=str(driver_path), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class GatedS3:
    """moto's S3 server on 127.0.0.1 (a free port); a browser's GETs under media/ wait while the gate is closed."""

    def __init__(self) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self.open = threading.Event()
        self.open.set()
        self.held = 0  # browser requests that waited at the closed gate
        app = DomainDispatcherApplication(create_backend_app)

        def gated(environ: dict[str, Any], start_response: Any) -> Any:
            browser = "Chrome" in environ.get("HTTP_USER_AGENT", "")
            if browser and environ["REQUEST_METHOD"] == "GET" and "/media/" in environ.get("PATH_INFO", ""):
                if not self.open.is_set():
                    self.held += 1
                self.open.wait(timeout=120)
            return app(environ, start_response)

        class Server(ThreadedMotoServer):
            def _server_entry(inner) -> None:
                inner._server = make_server("127.0.0.1", 0, gated, True, request_handler=MotoRequestHandler)
                inner._server_ready_event.set()
                inner._server.serve_forever()

        self.server = Server("127.0.0.1", 0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self.open.set()
        self.server.stop()


@pytest.fixture
def gated_s3() -> Iterator[GatedS3]:
    server = GatedS3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def site_bucket(gated_s3: GatedS3, settings: Any) -> Any:
    """A fresh bucket; the example site's storage points at it."""
    s3 = boto3.session.Session().client("s3", endpoint_url=gated_s3.endpoint, region_name="us-east-1")
    name = f"browser-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "image_optimizer.contrib.django.IncomingImageStorage",
            "OPTIONS": {"bucket_name": name, "endpoint_url": gated_s3.endpoint},
        },
    }
    return s3, name


@pytest.fixture
def process_uploads(
    gated_s3: GatedS3, site_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], list[str]]]:
    """The local flow: one ObjectCreated event per object waiting in incoming/, to the real handler."""
    s3, bucket = site_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", gated_s3.endpoint)
    handler.get_service.cache_clear()

    def run() -> list[str]:
        statuses = []
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="incoming/").get("Contents", []):
            event = s3_event(bucket, item["Key"], item["ETag"].strip('"'), item["Size"])
            result = handler.lambda_handler(event, FakeContext())
            statuses += [outcome["status"] for outcome in result["results"]]
        return statuses

    yield run
    handler.get_service.cache_clear()
