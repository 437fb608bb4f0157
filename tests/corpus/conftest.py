"""The corpus suite runs over every file of CORPUS_DIR (default ../shared/corpus); absent corpus -> one skip line."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from image_optimizer.imaging.pipeline import OptimizedImage, optimize
from image_optimizer.specs import PipelineConfig
from tests.conftest import corpus_dir

CORPUS = corpus_dir()


@dataclass(frozen=True)
class Entry:
    path: Path
    name: str
    category: str
    mode: str
    format: str
    width: int
    height: int


def manifest() -> list[Entry]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    with (CORPUS / "MANIFEST.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        Entry(
            CORPUS / row["file"],
            row["file"],
            row["category"],
            row["mode"],
            row["format"],
            int(row["width"] or 0),
            int(row["height"] or 0),
        )
        for row in rows
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        skip = pytest.mark.skip(reason=f"corpus not found at {CORPUS} (set CORPUS_DIR): corpus suite skipped")
        for item in items:
            if "tests/corpus" in str(item.fspath):
                item.add_marker(skip)


@cache
def optimized(name: str, config: PipelineConfig | None = None) -> OptimizedImage:
    return optimize((CORPUS / name).read_bytes(), config)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def source_image(name: str) -> Image.Image:
    """The source as a careful viewer decodes it (full size, first frame)."""
    if name.endswith((".heic", ".hif")):
        import pillow_heif

        pillow_heif.register_heif_opener()
    Image.MAX_IMAGE_PIXELS = None
    image = Image.open(CORPUS / name)
    image.load()
    return image
