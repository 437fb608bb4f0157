"""What may import what (docs/contributing.md): handler -> service -> {pipeline, storage}, never back; the pipeline is
pure; only storage.py touches boto3; only settings.py reads the environment. Read from every module's imports,
including the ones inside functions, so a lazy import cannot slip past."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "image_optimizer"

# The pure imaging pipeline and the plain data it shares with the rest: bytes in, renditions out.
PURE = {
    "pipeline",
    "decode",
    "layout",
    "crop",
    "color",
    "encode",
    "jpegli",
    "placeholder",
    "thumbhash",
    "specs",
    "errors",
    "objects",
    "provenance",
    "download",
    "deadline",
}
AWS_SIDE = {
    "handler",
    "dead_letters",
    "events",
    "poison",
    "service",
    "archive",
    "announce",
    "storage",
    "observability",
    "renderer",  # which code rendered the bytes, for the provenance fingerprint: reads files, logs a warning
    "rerender",  # re-rendering an archived upload: the handler's Batch Operations path and the rerender command
}
LOCAL_TOOLS = {"__main__", "cli", "local", "local_invoke", "rerender_cli"}
ANY_ENTRY = {"handler", "dead_letters"} | LOCAL_TOOLS
AWS_SDK = {"boto3", "botocore", "mypy_boto3_s3"}


def modules() -> dict[str, Path]:
    return {path.stem: path for path in PACKAGE.glob("*.py") if path.stem != "__init__"}


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(this package's modules it imports, the top-level third-party or stdlib packages it imports)."""
    tree = ast.parse(path.read_text())
    own: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "image_optimizer":
                    own.add(alias.name.split(".")[1] if "." in alias.name else "__init__")
                else:
                    others.add(top)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                top = node.module.split(".")[0]
                if top == "image_optimizer":
                    own.add(node.module.split(".")[1] if "." in node.module else "__init__")
                else:
                    others.add(top)
            elif node.level == 1:
                if node.module:  # from .storage import X
                    own.add(node.module.split(".")[0])
                else:  # from . import events, poison
                    own.update(alias.name for alias in node.names)
    return own, others


def reads_environment(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "environb"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and {alias.name for alias in node.names} & {"environ", "getenv"}
        ):
            return True
    return False


def test_every_module_has_a_layer() -> None:
    """A new module is placed in a layer here (and in docs/contributing.md) before it can pass."""
    assert set(modules()) == PURE | AWS_SIDE | LOCAL_TOOLS | {"settings"}


def test_the_pipeline_is_pure() -> None:
    for name in PURE:
        own, others = imports(modules()[name])
        assert not own - PURE, f"{name} imports {sorted(own - PURE)} from outside the pure pipeline"
        assert not others & (AWS_SDK | {"aws_lambda_powertools", "aws_xray_sdk", "django", "storages"}), name
        assert not reads_environment(modules()[name]), name


def test_only_storage_touches_boto3() -> None:
    for name, path in modules().items():
        if name in {"storage", "local"}:  # local.py: the stand-in for Lambda, it starts the embedded S3 server
            continue
        _, others = imports(path)
        assert not others & AWS_SDK, f"{name} imports {sorted(others & AWS_SDK)}: only storage.py may"


def test_dependencies_point_one_way() -> None:
    """handler -> service -> {pipeline, storage}: nothing imports an entry point (the dead-letter consumer and the
    local tools reuse the handler), the service does not import the handler, storage imports neither."""
    graph = {name: imports(path)[0] for name, path in modules().items()}
    for name, own in graph.items():
        entries = own & ANY_ENTRY
        if name == "dead_letters":
            entries -= {"handler"}  # it is the handler of the dead-letter queue, sharing the function's wiring
        if name in LOCAL_TOOLS:
            entries -= LOCAL_TOOLS | {"handler"}
        assert not entries, f"{name} imports the entry point(s) {sorted(entries)}"
    assert not graph["service"] & {"handler", "events", "poison"}
    assert not graph["storage"] & (AWS_SIDE | LOCAL_TOOLS | {"pipeline", "settings"}) - {"storage"}
    for name in AWS_SIDE | PURE | {"settings"}:
        assert "contrib" not in graph[name], f"{name} imports contrib: the function never does"


def test_only_settings_reads_the_environment() -> None:
    readers = {name for name, path in modules().items() if reads_environment(path)}
    # local.py sets the variables the handler it runs in-process will read, as Lambda would (and prints them)
    assert readers <= {"settings", "local"}, sorted(readers)
    assert "settings" in readers


def test_the_checks_see_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("import os\n\ndef f():\n    import boto3\n    from . import storage\n    return os.environ\n")
    own, others = imports(module)
    assert own == {"storage"} and "boto3" in others
    assert reads_environment(module)
