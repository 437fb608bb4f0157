"""One upload end to end (GET, HEAD, optimise, a PUT per rendition, DELETE) through ImageService against moto's S3
server on 127.0.0.1, with the renditions written concurrently (the service's way) or one at a time, and a simulated
network round trip before every S3 request: on localhost a request costs almost nothing, from Lambda it does not.

    python -m benchmarks.writes IMAGE [--reps N]    prints one JSON object (medians in ms)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from image_optimizer.local import embedded_s3, point_sdk_at
from image_optimizer.service import MAX_PARALLEL_WRITES, ImageService, ObjectRef
from image_optimizer.settings import load_settings
from image_optimizer.storage import S3Storage, make_s3_client

ROUND_TRIP_MS = 20  # a small S3 request from Lambda in the same region takes about 10-30 ms
BUCKET = "bench-writes"
CONFIGS = {"default (3 renditions)": {}, "EXTRA_FORMATS=webp,avif (9)": {"EXTRA_FORMATS": "webp,avif"}}
MODES = {"concurrent": MAX_PARALLEL_WRITES, "one at a time": 1}


def measure(image: Path, reps: int) -> dict[str, Any]:
    data = image.read_bytes()
    results: dict[str, Any] = {"image": image.name, "round_trip_ms": ROUND_TRIP_MS, "configs": {}}
    with embedded_s3() as endpoint:
        point_sdk_at(endpoint, embedded=True)
        client = make_s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.meta.events.register("before-send.s3", lambda **_: time.sleep(ROUND_TRIP_MS / 1000))
        for config, environ in CONFIGS.items():
            service = ImageService(S3Storage(client), load_settings(environ))
            times: dict[str, list[float]] = {mode: [] for mode in MODES}
            for rep in range(reps + 1):  # the first round warms up
                for mode, workers in MODES.items():  # interleaved, so drift hits both alike
                    key = f"incoming/{rep}/{len(times[mode])}-{mode.replace(' ', '-')}/{image.name}"
                    client.put_object(Bucket=BUCKET, Key=key, Body=data)
                    service.max_parallel_writes = workers
                    started = time.perf_counter()
                    outcome = service.process(ObjectRef(BUCKET, key))
                    elapsed = (time.perf_counter() - started) * 1000
                    if outcome.status != "processed":
                        raise RuntimeError(f"{key}: {outcome.status} {outcome.reason}")
                    if rep:
                        times[mode].append(elapsed)
            medians = {mode: round(statistics.median(values), 1) for mode, values in times.items()}
            results["configs"][config] = {
                **medians,
                "ratio": round(medians["concurrent"] / medians["one at a time"], 3),
            }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("image", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.image, args.reps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
