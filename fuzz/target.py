"""The atheris target: any input either becomes renditions within the limits, or raises ImageRejected.

Run through `make fuzz` (fuzz/run.py sets the memory ceiling, seeds and dictionary); directly:
`python -m fuzz.target <corpus dir> -dict=fuzz/dicts/png.dict -max_total_time=60`.

Unexpected Python exceptions are findings: each new one (type + innermost project/Pillow frame) is saved with its
traceback under FUZZ_FINDINGS and the run goes on. A native crash, a timeout (-timeout) or going over the memory
ceiling (-rss_limit_mb, RLIMIT_DATA) stops libFuzzer, which writes the input itself; fuzz/run.py restarts it."""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["PIL", "image_optimizer", "pillow_heif"]):
    from PIL import Image

    from image_optimizer.errors import ImageRejected
    from image_optimizer.imaging import decode, pipeline
    from image_optimizer.specs import PipelineConfig

    # Pillow imports its format plugins, where the parsing is, on first use: imported here, they are instrumented.
    Image.init()
    decode._register_heif()

# The function's default limits; one thread, so a finding reproduces the same way every time.
CONFIG = PipelineConfig(threads=1)
FINDINGS = Path(os.environ.get("FUZZ_FINDINGS", ".fuzz/findings"))
RAISE = bool(os.environ.get("FUZZ_RAISE"))
_seen: set[str] = set()


def check_decode(data: bytes) -> None:
    """decode alone, at full size (optimize decodes JPEG at a reduced DCT scale): opens and loads, or rejects."""
    decoded = decode.open_image(data, max_pixels=CONFIG.max_pixels)
    decode.check_full_decode(decoded, CONFIG.max_full_decode_pixels)  # JPEG too: this decode is at full size
    image = decode.load(decoded)
    # HEIF/AVIF: a clean aperture can make the pixels differ from the header's size; the pipeline plans on the pixels
    # (tests/unit/test_fuzz_findings.py). Everything else decodes to the size its header gives.
    if decoded.format not in ("HEIF", "AVIF"):
        assert image.size == (decoded.width, decoded.height), (image.size, decoded.width, decoded.height)


def check_optimize(data: bytes) -> None:
    result = pipeline.optimize(data, CONFIG)
    assert result.renditions, "no renditions"
    main = result.main
    assert main.width <= CONFIG.max_width and main.width >= 1 and main.height >= 1, (main.width, main.height)
    # never upscaled: no rendition is larger than the (upright) source
    assert all(r.width <= result.source_width and r.height <= result.source_height for r in result.renditions), (
        [(r.name, r.width, r.height) for r in result.renditions],
        result.source_width,
        result.source_height,
    )
    for rendition in result.renditions:
        assert rendition.data, f"{rendition.name}: empty"
        if rendition.format == "jpeg":
            assert rendition.data[:3] == b"\xff\xd8\xff", f"{rendition.name}: not a JPEG"


def signature(error: BaseException) -> str:
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if "/fuzz/" not in frame.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__}@{where}"


def record(data: bytes, error: BaseException) -> None:
    key = signature(error)
    if key in _seen:
        return
    _seen.add(key)
    FINDINGS.mkdir(parents=True, exist_ok=True)
    stem = f"{key.replace('@', '-').replace(':', '-')}-{hashlib.sha256(data).hexdigest()[:10]}"
    (FINDINGS / f"{stem}.bin").write_bytes(data)
    (FINDINGS / f"{stem}.txt").write_text("".join(traceback.format_exception(error)))
    print(f"FINDING {key}: {FINDINGS / stem}.bin", file=sys.stderr, flush=True)


def test_one_input(data: bytes) -> None:
    for check in (check_decode, check_optimize):
        try:
            check(data)
        except ImageRejected:
            pass
        except Exception as error:  # anything else breaks the contract
            if RAISE:  # minimising a finding (fuzz/run.py --minimize): libFuzzer must see it as a crash
                raise
            record(data, error)


def main() -> None:
    # libFuzzer re-runs argv[0] through the shell for -minimize_crash: the interpreter and module, not this file.
    argv = [f"{sys.executable} -m fuzz.target", *sys.argv[1:]]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
