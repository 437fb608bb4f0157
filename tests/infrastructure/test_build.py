"""`sam build` without Docker or python3.12, for both architectures, plus an import smoke test.

One build per architecture is shared by all tests of this module (module-scoped fixture).
"""

from __future__ import annotations

import glob
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from image_optimizer.imaging import jpegli

sys.path.insert(0, str(Path(__file__).resolve().parent))

from infra_helpers import FUNCTION_ID, LAYER_ID, PROJECT_ROOT, tool_env, venv_tool

ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64
TRIPLET = {"arm64": "aarch64-linux-gnu", "x86_64": "x86_64-linux-gnu"}
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower()
)
BUILD_TIMEOUT = 900


def _sam_build(arch: str, tmp_root: Path) -> Path:
    sam = venv_tool("sam")
    assert sam, "sam CLI not found"
    project = PROJECT_ROOT
    build_dir = tmp_root / f"build-{arch}" / "build"  # build.toml lands in build-<arch>/
    env = tool_env()
    env.pop("LAMBDA_ARCH", None)  # the architecture must come from the template parameter only
    env["PIP"] = f"{sys.executable} -m pip"
    cmd = [
        sam,
        "build",
        "--template",
        str(project / "template.yaml"),
        "--build-dir",
        str(build_dir),
        "--parameter-overrides",
        f"Architecture={arch}",
        "--no-cached",
    ]
    proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return build_dir


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("sam")
    cache: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in cache:
            cache[arch] = _sam_build(arch, root)
        return cache[arch]

    return get


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    assert header[4] == 2, f"{path} is not ELF64"
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_build_artifacts(builds, arch):
    build = builds(arch)
    fn = build / FUNCTION_ID
    layer = build / LAYER_ID / "python"
    assert (fn / "image_optimizer" / "handler.py").is_file()
    assert (build / "DeadLetterFunction" / "image_optimizer" / "dead_letters.py").is_file()  # Trigger=S3 consumer
    assert (
        fn / "image_optimizer" / "imaging" / "profiles" / "FOGRA39L_coated.icc"
    ).is_file()  # default CMYK profile ships
    assert (fn / "aws_lambda_powertools").is_dir()
    assert not list(fn.rglob("__pycache__")), "artifacts should not carry bytecode"
    assert (layer / "PIL").is_dir()
    assert (layer / "pillow_heif").is_dir()
    # the JPEG encoder (image_optimizer.imaging.jpegli)
    (encoder,) = layer.glob(f"pyjpegli.cpython-312-{TRIPLET[arch]}.so")
    # every function image_optimizer.imaging.jpegli calls is named in the library's dynamic string table (nothing else
    # in it refers to jpegli_* names): a missing one would mean Pillow silently encodes on this architecture
    names = encoder.read_bytes()
    assert [name for name in jpegli._SIGNATURES if name.encode() + b"\0" not in names] == []

    native = list(layer.rglob("*.so")) + list(fn.rglob("*.so"))
    assert any(p.parent.name == "PIL" for p in native), "no native PIL extension in the layer"
    for so in native:
        if ".so." in so.name or so.suffix != ".so":
            continue
        assert _elf_machine(so) == ELF_MACHINE[arch], f"{so} has the wrong machine type for {arch}"
    for ext in [p for p in native if "cpython-312" in p.name]:
        assert TRIPLET[arch] in ext.name, ext
    assert not [p for p in layer.rglob("*.so") if "cpython-3" in p.name and "cpython-312" not in p.name]


def _python312() -> str | None:
    candidates = [shutil.which("python3.12")]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.12*", "bin", "python3.12")))
    for exe in filter(None, candidates):
        try:
            out = subprocess.run(
                [exe, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip() == "True":
            return exe
    return None


def test_import_built_artifacts_with_python312(builds):
    if HOST_ARCH is None:
        pytest.skip(f"unknown host architecture {platform.machine()}")
    exe = _python312()
    if exe is None:
        pytest.skip("no python3.12 interpreter on this machine")
    build = builds(HOST_ARCH)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "image-optimizer",
        "POWERTOOLS_METRICS_NAMESPACE": "ImageOptimizer",
        "INCOMING_PREFIX": "incoming/",
        "OUTPUT_PREFIX": "media/",
        "FAILED_PREFIX": "failed/",
    }
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import PIL.Image, PIL.features, pillow_heif, image_optimizer.handler\n"
        "assert PIL.Image.__file__.startswith(sys.argv[1]), PIL.Image.__file__\n"
        "assert PIL.features.check('jpg'), 'no JPEG support'\n"
        "assert callable(image_optimizer.handler.lambda_handler)\n"
        "import pyjpegli\n"
        "assert pyjpegli.__file__.startswith(sys.argv[1]), pyjpegli.__file__\n"
        "from image_optimizer.imaging import encode\n"
        "assert encode.jpeg_encoder('auto') == 'jpegli', 'the layer falls back to Pillow'\n"
        "image = PIL.Image.linear_gradient('L').convert('RGB')\n"
        "data, quality = encode.encode_jpeg(image, quality=None, target=85, encoder='auto')\n"
        "assert b'\\xff\\xc2' in data[:1000] and PIL.Image.open(__import__('io').BytesIO(data)).size == (256, 256)\n"
        "from image_optimizer.aws import renderer\n"  # the fingerprint's digest reads the shipped rendering code
        "assert all(p.is_file() and str(p).startswith(sys.argv[2]) for p in renderer.rendering_files())\n"
        "assert ' code ' in renderer.identity(image_optimizer.handler.get_settings().pipeline)\n"
        "print(PIL.__version__, pillow_heif.__version__, quality)\n"
    )
    proc = subprocess.run(
        [exe, "-s", "-c", code, str(build / LAYER_ID / "python"), str(build / FUNCTION_ID)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    versions = proc.stdout.split()
    assert versions[:2] == ["13.0.0", "1.8.1"] and 80 <= int(versions[2]) <= 95


# --------------------------------------------------------------------------- makefile arch logic
BUILD_TOML = """\
# This file is auto generated by SAM CLI build command

[function_build_definitions.1111]
codeuri = "/x/src"
runtime = "python3.12"
architecture = "{fn_arch}"
handler = "image_optimizer.handler.lambda_handler"
packagetype = "Zip"
functions = ["{fn_id}"]

[function_build_definitions.1111.metadata]
BuildMethod = "makefile"

[layer_build_definitions.2222]
layer_name = "{layer_id}"
build_method = "makefile"
compatible_runtimes = ["python3.12"]
architecture = "{layer_arch}"
layer = "{layer_id}"
"""


def _make(makefile: Path, target: str, tmp_path: Path, toml: str | None, lambda_arch: str | None):
    build_dir = tmp_path / "sam" / "build"
    artifacts = build_dir / target.removeprefix("build-")
    artifacts.mkdir(parents=True)
    if toml is not None:
        (tmp_path / "sam" / "build.toml").write_text(toml)
    work = tmp_path / "scratch"
    (work / "image_optimizer").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_ARCH", "MAKEFLAGS", "MFLAGS")}
    env["ARTIFACTS_DIR"] = str(artifacts)
    env["PIP"] = "echo pip"  # print the pip command instead of running it
    if lambda_arch:
        env["LAMBDA_ARCH"] = lambda_arch
    return subprocess.run(
        ["make", "--makefile", str(makefile), target],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


MAKEFILES = [
    (PROJECT_ROOT / "src" / "Makefile", f"build-{FUNCTION_ID}"),
    (PROJECT_ROOT / "layers" / "pillow" / "Makefile", f"build-{LAYER_ID}"),
]


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
@pytest.mark.parametrize("makefile,target", MAKEFILES, ids=["function", "layer"])
@pytest.mark.parametrize(
    "fn_arch,layer_arch,lambda_arch",
    [("arm64", "x86_64", None), ("x86_64", "arm64", None), ("x86_64", "x86_64", "arm64")],
)
def test_makefile_architecture_resolution(tmp_path, makefile, target, fn_arch, layer_arch, lambda_arch):
    toml = BUILD_TOML.format(fn_arch=fn_arch, layer_arch=layer_arch, fn_id=FUNCTION_ID, layer_id=LAYER_ID)
    proc = _make(makefile, target, tmp_path, toml, lambda_arch)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = lambda_arch or (fn_arch if "Function" in target else layer_arch)
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[expected]
    other = {"aarch64": "x86_64", "x86_64": "aarch64"}[machine]
    assert f"--platform manylinux2014_{machine} --platform manylinux_2_28_{machine}" in proc.stdout
    assert other not in proc.stdout.split("pip", 1)[1]
    for flag in ("--only-binary=:all:", "--python-version 3.12", "--implementation cp", "--no-compile"):
        assert flag in proc.stdout
    req = "requirements/lambda.txt" if "Function" in target else "requirements/layer.txt"
    assert str(PROJECT_ROOT / req) in proc.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
@pytest.mark.parametrize("makefile,target", MAKEFILES, ids=["function", "layer"])
def test_makefile_refuses_to_guess_architecture(tmp_path, makefile, target):
    proc = _make(makefile, target, tmp_path, toml=None, lambda_arch=None)
    assert proc.returncode != 0
    assert "LAMBDA_ARCH" in proc.stderr
