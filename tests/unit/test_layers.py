"""What may import what (docs/contributing.md), read from every module's imports, including the ones inside
functions, so a lazy import cannot slip past. The packages are the layers:

    handler, dead_letters, __main__   the entry points (Lambda's two, the command line's)
    settings, specs, errors           shared: the configuration, the rendition specs and the naming rule, the errors
    imaging/                          the pure pipeline: bytes in, renditions out
    aws/                              the function's AWS side: events, the service, storage (the only boto3 user)
    local/                            the local tools, one module per command
    contrib/                          the Django integration, running in the site, never in the function

Dependencies point one way: entry points -> aws -> {imaging, shared}; local -> entry points; nothing imports an
entry point but the local tools (and the dead-letter consumer, which reuses the handler's wiring); the pipeline
imports only itself, specs, errors and the imaging libraries; only aws/storage.py touches boto3; only settings.py
reads the environment; nothing imports by name at run time (importlib), so these checks see every import."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "image_optimizer"
ENTRY_POINTS = {"handler", "dead_letters", "__main__"}
SHARED = {"settings", "specs", "errors"}
LAYERS = ("imaging", "aws", "local", "contrib")
AWS_SDK = {"boto3", "botocore", "mypy_boto3_s3"}
# What the pipeline may import besides itself, `specs` and `errors`: the imaging libraries and the standard library's
# computing modules. No network, no processes, no environment: a new import here is a decision, made in this list.
IMAGING_MAY_IMPORT = {
    *("PIL", "pillow_heif", "pyjpegli"),
    *("__future__", "base64", "collections", "concurrent", "contextlib", "ctypes", "dataclasses", "functools"),
    *("importlib", "io", "itertools", "math", "operator", "pathlib", "re", "struct", "typing", "warnings", "zlib"),
}


def modules() -> dict[str, Path]:
    """Every module by its dotted name under image_optimizer ("aws.service"); packages by their own name."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer(name: str) -> str:
    top = name.split(".")[0]
    return top if top in LAYERS else name


def imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(this package's modules `name` imports, as dotted names; the top-level other packages it imports)."""
    known = modules()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    own: set[str] = set()
    others: set[str] = set()

    def add(target: str, names: list[str]) -> None:
        for alias in names:  # `from .aws import service` names a module; `from .aws.service import X` does not
            own.add(f"{target}.{alias}".strip(".") if f"{target}.{alias}".strip(".") in known else target)

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "image_optimizer":
                    own.add(alias.name.partition(".")[2])
                else:
                    others.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level == 0 and node.module:
                if node.module.split(".")[0] == "image_optimizer":
                    add(node.module.partition(".")[2], names)
                else:
                    others.add(node.module.split(".")[0])
            elif node.level:
                base = package[: len(package) - node.level + 1]
                add(".".join([*base, *([node.module] if node.module else [])]), names)
    own.discard("")
    return own, others


def graph() -> dict[str, set[str]]:
    return {name: imports(name, path)[0] for name, path in modules().items()}


def reads_environment(path: Path) -> bool:
    """os.environ, os.getenv or os.environb, whatever name `os` or they are imported under."""
    tree = ast.parse(path.read_text())
    os_names = {
        alias.asname or "os"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "os"
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "environb", "getenvb"}
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and {alias.name for alias in node.names} & {"environ", "getenv", "environb", "getenvb"}
        ):
            return True
    return False


def imports_by_name(path: Path) -> bool:
    """importlib.import_module or __import__: an import the checks here could not see."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            called = node.func
            if isinstance(called, ast.Attribute) and called.attr == "import_module":
                return True
            if isinstance(called, ast.Name) and called.id in {"__import__", "import_module"}:
                return True
    return False


def test_every_module_has_a_layer() -> None:
    """A new module goes into a layer's package (and docs/contributing.md's map), not beside the entry points."""
    outside = {name for name in modules() if layer(name) not in {*LAYERS, *ENTRY_POINTS, *SHARED}}
    assert not outside, f"modules outside every layer: {sorted(outside)}"


def test_the_shared_modules_import_only_each_other() -> None:
    for name in SHARED:
        assert graph()[name] <= SHARED, f"{name} imports {sorted(graph()[name] - SHARED)}"


def test_the_pipeline_is_pure() -> None:
    for name, path in modules().items():
        if layer(name) != "imaging":
            continue
        own, others = imports(name, path)
        outside = {target for target in own if layer(target) != "imaging"} - {"specs", "errors"}
        assert not outside, f"{name} imports {sorted(outside)} from outside the pure pipeline"
        assert others <= IMAGING_MAY_IMPORT, f"{name} imports {sorted(others - IMAGING_MAY_IMPORT)}"
        assert not reads_environment(path), name


def test_only_storage_touches_boto3() -> None:
    """In the function. contrib runs in the Django site, which reaches S3 through django-storages (botocore's
    errors included); local/run.py stands in for Lambda and starts the embedded S3 server."""
    for name, path in modules().items():
        if name in {"aws.storage", "local.run"} or layer(name) == "contrib":
            continue
        _, others = imports(name, path)
        assert not others & AWS_SDK, f"{name} imports {sorted(others & AWS_SDK)}: only aws/storage.py may"


def test_dependencies_point_one_way() -> None:
    """entry points -> aws -> {imaging, shared}; the local tools drive the entry points; contrib uses imaging and
    the shared modules only. Inside aws: the service never imports the event side, storage imports nothing of it."""
    allowed = {
        "imaging": {"imaging"},
        "aws": {"aws", "imaging"},
        "local": {"local", "aws", "imaging", "handler"},
        "contrib": {"contrib", "imaging"},
        "handler": {"aws"},
        "dead_letters": {"aws", "handler"},  # the dead-letter queue's handler shares the function's wiring
        "__main__": {"local"},
    }
    for name, own in graph().items():
        if layer(name) in SHARED:
            continue
        reached = {layer(target) for target in own} - SHARED - {name}
        assert reached <= allowed[layer(name)], f"{name} imports {sorted(reached - allowed[layer(name)])}"
    for name in ("aws.service", "aws.renditions", "aws.quarantine", "aws.archive", "aws.announce"):
        assert not graph()[name] & {"aws.events", "aws.poison", "aws.rerender", "aws.deadline"}, name
    assert not graph()["aws.renditions"] & {"aws.service", "aws.quarantine"}
    assert not graph()["aws.quarantine"] & {"aws.service", "aws.renditions"}
    assert not graph()["aws.backlog"] & {"aws.service", "aws.rerender"}  # listing work never does it
    assert graph()["aws.storage"] <= {"aws.download"}


def test_nothing_imports_by_name() -> None:
    found = sorted(name for name, path in modules().items() if imports_by_name(path))
    assert not found, f"{found} import by name at run time: the layer checks cannot see what"


def test_only_settings_reads_the_environment() -> None:
    readers = {name for name, path in modules().items() if reads_environment(path)}
    # local/run.py sets the variables the handler it runs in-process will read, as Lambda would (and prints them)
    assert readers <= {"settings", "local.run"}, sorted(readers)
    assert "settings" in readers


def test_the_checks_see_every_form_of_import(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text(
        "import os\n\ndef f():\n    import boto3\n    from . import storage\n    from ..imaging import crop\n"
        "    from ..specs import MAIN\n    return os.environ\n"
    )
    own, others = imports("aws.lazy", module)
    assert own == {"aws.storage", "imaging.crop", "specs"} and "boto3" in others
    assert reads_environment(module)
    aliased = tmp_path / "aliased.py"
    aliased.write_text("import os as system\n\nfrom os import environb\n\nvalue = system.environ\n")
    assert reads_environment(aliased)
    aliased.write_text("import os as system\n\nvalue = system.getenv('X')\n")
    assert reads_environment(aliased)
    dynamic = tmp_path / "dynamic.py"
    dynamic.write_text("import importlib\n\nmodule = importlib.import_module('image_optimizer.aws.storage')\n")
    assert imports_by_name(dynamic)


def test_a_wrong_way_import_is_caught(tmp_path: Path) -> None:
    """The direction check itself: the pipeline importing the AWS side must be refused."""
    module = tmp_path / "leaky.py"
    module.write_text("from ..aws.storage import S3Storage\n")
    own, _ = imports("imaging.leaky", module)
    assert {layer(target) for target in own} - SHARED == {"aws"}
