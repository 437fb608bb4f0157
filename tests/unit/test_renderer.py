import ast
from pathlib import Path

import pytest

from image_optimizer.aws import observability, renderer
from image_optimizer.imaging import color, pipeline
from image_optimizer.specs import PipelineConfig

PACKAGE = Path(pipeline.__file__).parent
# Imported by the rendering code, but no part of the bytes: the settings are in the fingerprint as data, and
# errors only names the rejections.
NOT_RENDERING = {"specs", "errors"}


def package_imports(module: str) -> set[str]:
    """The package's modules `module` imports (`from . import x`, `from .x import y`)."""
    found = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
    return found


def test_every_module_the_pipeline_runs_is_in_the_digest() -> None:
    """A module added to the pipeline (a new resampler, say) must count, or its changes would keep old bytes: the
    digest reads the whole imaging package, and the pipeline reaches nothing else but specs and errors."""
    reached, pending = set(), ["pipeline"]
    while pending:
        module = pending.pop()
        if module not in reached:
            reached.add(module)
            pending += package_imports(module)
    digested = {path.stem for path in renderer.rendering_files() if path.suffix == ".py"}
    assert reached - NOT_RENDERING <= digested
    assert {"pipeline", "decode", "encode", "jpegli", "color", "crop", "placeholder", "thumbhash"} <= digested
    assert all(path.is_file() for path in renderer.rendering_files())
    assert color.DEFAULT_CMYK_PROFILE in renderer.rendering_files()


def test_the_identity_names_the_encoder_the_libraries_and_the_code() -> None:
    identity = renderer.identity(PipelineConfig())
    assert identity.startswith(renderer.encoder_identity("auto") + " pillow ")
    assert " pillow-heif " in identity
    assert identity.endswith(f" code {renderer.files_digest(renderer.rendering_files())}")
    assert renderer.identity(PipelineConfig(encoder="pillow")).startswith("pillow ")


def test_the_digest_changes_with_any_byte_of_the_code(tmp_path: Path) -> None:
    files = []
    for index, text in enumerate(["x = 1\n", "y = 2\n"]):
        files.append(tmp_path / f"m{index}.py")
        files[-1].write_text(text)
    before = renderer.files_digest(tuple(files))
    files[1].write_text("y = 3\n")
    assert renderer.files_digest(tuple(files)) != before
    files[1].write_text("y = 2\n")
    assert renderer.files_digest(tuple(files)) == before


def test_an_unreadable_file_counts_by_name_warns_and_stops_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(observability.logger, "warning", lambda message, **keys: warnings.append((message, keys)))
    present, missing, other = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    present.write_text("x = 1\n")
    with_missing = renderer.files_digest((present, missing))
    assert with_missing != renderer.files_digest((present,))
    assert with_missing != renderer.files_digest((present, other))  # its name counts
    assert all("rendering code unreadable" in message for message, _ in warnings)
    assert [keys["path"] for _, keys in warnings] == [str(missing), str(other)]  # `other` is missing too
