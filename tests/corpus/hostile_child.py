"""Run the pipeline on one file under an address-space limit; print the outcome and the peak RSS as JSON."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

limit_mb = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 1024 * 1024, limit_mb * 1024 * 1024))

from image_optimizer.errors import ImageRejected  # noqa: E402
from image_optimizer.imaging.pipeline import optimize  # noqa: E402

started = time.perf_counter()
try:
    optimize(Path(sys.argv[1]).read_bytes())
    outcome = {"kind": None, "message": ""}
except ImageRejected as rejection:
    outcome = {"kind": rejection.kind, "message": str(rejection)}
outcome["seconds"] = round(time.perf_counter() - started, 3)
# VmHWM is this process's own peak (ru_maxrss would include the parent's pages from before exec).
peak_kb = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM"))
outcome["max_rss_mb"] = int(peak_kb.split()[1]) / 1024
print(json.dumps(outcome))
