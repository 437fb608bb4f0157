"""One upload end to end (GET, HEAD, optimise, a PUT per rendition, DELETE) through ImageService against moto's S3
server on 127.0.0.1, with a simulated network round trip before every S3 request (on localhost a request costs
almost nothing; from Lambda it does not). Two comparisons, each mode interleaved with the other:
- writes: the renditions written concurrently (the service's way) or one at a time;
- reads: the upload decoded as its body arrives (the service's way) or once all of it has, with the body
  arriving at a simulated bandwidth (on localhost it would be there at once).

    python -m benchmarks.end_to_end IMAGE [--reps N]    prints one JSON object (medians in ms)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from image_optimizer.aws.objects import ObjectRef
from image_optimizer.aws.renditions import MAX_PARALLEL_WRITES
from image_optimizer.aws.service import ImageService
from image_optimizer.aws.storage import S3Storage, make_s3_client
from image_optimizer.imaging import pipeline
from image_optimizer.local.run import embedded_s3, point_sdk_at
from image_optimizer.settings import Settings, load_settings
from image_optimizer.specs import PipelineConfig

ROUND_TRIP_MS = 20  # a small S3 request from Lambda in the same region takes about 10-30 ms
BUCKET = "bench-end-to-end"
# One pipeline thread, as at the template's 1024 MB (auto would count this machine's CPUs).
CONFIGS = {
    "default (3 renditions)": {"PIPELINE_THREADS": "1"},
    "EXTRA_FORMATS=webp,avif (9)": {"PIPELINE_THREADS": "1", "EXTRA_FORMATS": "webp,avif"},
}
WRITE_MODES = {"concurrent": MAX_PARALLEL_WRITES, "one at a time": 1}
BANDWIDTHS_MB_S = (50, 100)  # assumed S3 -> Lambda throughput for one GET; the saving depends on it


class Arriving:
    """A GET's body whose bytes arrive at `rate` bytes a second from when its headers did."""

    def __init__(self, body: Any, rate: float) -> None:
        self._body, self._rate = body, rate
        self._given, self._start = 0, time.perf_counter()

    def read(self, amount: int = -1) -> bytes:
        chunk: bytes = self._body.read(amount)
        self._given += len(chunk)
        wait = self._start + self._given / self._rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        return chunk

    def close(self) -> None:
        self._body.close()


def _arriving_at(rate: float) -> Callable[..., None]:
    def slow_down(parsed: dict[str, Any], **_: Any) -> None:
        if "Body" in parsed:
            parsed["Body"] = Arriving(parsed["Body"], rate)

    return slow_down


def _after_it_has_arrived(source: IO[bytes], config: PipelineConfig) -> pipeline.OptimizedImage:
    """The optimiser the way it was before decoding overlapped the download: all of the body first."""
    return pipeline.optimize(source.read(), config)


def _service(client: Any, settings: Settings, **options: Any) -> ImageService:
    return ImageService(S3Storage(client), settings, **options)


def _compare(
    client: Any, data: bytes, name: str, modes: dict[str, ImageService], reps: int, phase: str
) -> dict[str, float]:
    """Median ms per upload through each mode's service, interleaved so drift hits them alike. Every upload has
    a key of its own (`phase`, round, mode): a key used before would find its renditions already there and cost
    extra requests (a refused conditional PUT, a HEAD), which one phase must not leave to the next."""
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for rep in range(reps + 1):  # the first round warms up
        for mode, service in modes.items():
            key = f"incoming/{phase}/{rep}/{mode.replace(' ', '-')}/{name}"
            client.put_object(Bucket=BUCKET, Key=key, Body=data)
            started = time.perf_counter()
            outcome = service.process(ObjectRef(BUCKET, key))
            elapsed = (time.perf_counter() - started) * 1000
            if outcome.status != "processed":
                raise RuntimeError(f"{key}: {outcome.status} {outcome.reason}")
            if rep:
                times[mode].append(elapsed)
    return {mode: round(statistics.median(values), 1) for mode, values in times.items()}


def _with_ratio(medians: dict[str, float]) -> dict[str, float]:
    first, second = medians.values()
    return {**medians, "ratio": round(first / second, 3)}


def measure(image: Path, reps: int) -> dict[str, Any]:
    data = image.read_bytes()
    writes: dict[str, Any] = {"image": image.name, "round_trip_ms": ROUND_TRIP_MS, "configs": {}}
    reads: dict[str, Any] = {"image": image.name, "bytes": len(data), "round_trip_ms": ROUND_TRIP_MS, "bandwidths": {}}
    with embedded_s3() as endpoint:
        point_sdk_at(endpoint, embedded=True)
        client = make_s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.meta.events.register("before-send.s3", lambda **_: time.sleep(ROUND_TRIP_MS / 1000))
        for index, (config, environ) in enumerate(CONFIGS.items()):
            settings = load_settings(environ)
            writers = {mode: _service(client, settings, max_parallel_writes=n) for mode, n in WRITE_MODES.items()}
            medians = _compare(client, data, image.name, writers, reps, f"writes-{index}")
            writes["configs"][config] = _with_ratio(medians)
        default = load_settings(CONFIGS["default (3 renditions)"])
        readers = {
            "decoded as it arrives": _service(client, default),
            "after it has arrived": _service(client, default, optimizer=_after_it_has_arrived),
        }
        for bandwidth in BANDWIDTHS_MB_S:
            slow_down = _arriving_at(bandwidth * 1e6)
            client.meta.events.register("after-call.s3.GetObject", slow_down)
            medians = _compare(client, data, image.name, readers, reps, f"reads-{bandwidth}")
            reads["bandwidths"][f"{bandwidth} MB/s"] = _with_ratio(medians)
            client.meta.events.unregister("after-call.s3.GetObject", slow_down)
    return {"writes": writes, "reads": reads}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("image", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.image, args.reps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
