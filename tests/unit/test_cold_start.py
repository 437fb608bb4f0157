"""Heavy or optional modules are imported when first needed, not at the Lambda's cold start."""

import json
import subprocess
import sys
from pathlib import Path

LAZY = [
    "aws_xray_sdk",
    "pillow_heif",
    "PIL.ImageCms",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "moto",
    "numpy",
    "django",  # the Django extra is for the site, never the function
    "storages",
    "image_optimizer.contrib",
]


def loaded_after(code: str) -> dict[str, bool]:
    program = f"import sys, json\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {LAZY!r}}}))"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_handler_leaves_heavy_modules_unloaded() -> None:
    assert loaded_after("import image_optimizer.handler") == dict.fromkeys(LAZY, False)


def test_they_load_when_needed(tmp_path: Path) -> None:
    import pillow_heif
    from PIL import Image

    heic = tmp_path / "red.heic"
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), (200, 10, 10))).save(heic, quality=90)
    code = (
        "import pathlib\n"
        "from image_optimizer.imaging.pipeline import optimize\n"
        f"assert optimize(pathlib.Path({str(heic)!r}).read_bytes()).main.width == 64\n"
        "from image_optimizer.aws.observability import get_tracer; get_tracer()\n"
    )
    loaded = loaded_after(code)
    assert loaded["pillow_heif"] and loaded["aws_xray_sdk"]


def test_carrying_the_trace_to_a_writer_thread_changes_nothing_when_nothing_is_traced() -> None:
    """Without the handler's tracer (benchmarks/end_to_end.py, any other embedding) the X-Ray SDK stays unloaded;
    with tracing disabled, as outside Lambda, the function is left as it is too."""
    code = (
        "from image_optimizer.aws.observability import get_tracer, in_this_trace\n"
        "def write() -> None: ...\n"
        "assert in_this_trace(write) is write and 'aws_xray_sdk' not in sys.modules\n"
        "import os; os.environ['POWERTOOLS_TRACE_DISABLED'] = 'true'\n"
        "assert get_tracer().disabled and in_this_trace(write) is write\n"
    )
    loaded_after(code)
