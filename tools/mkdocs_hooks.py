"""mkdocs hooks: the site serves benchmarks/NOTES.md from where it lives, so the Performance page links to the
repository's own file rather than a copy that could drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
# Repository files outside docs/ that the site publishes as pages: site path -> repository path.
REPOSITORY_PAGES = {"benchmarks/NOTES.md": ROOT / "benchmarks" / "NOTES.md"}


def on_files(files: Files, config: Any) -> Files:
    for site_path, source in REPOSITORY_PAGES.items():
        files.append(File.generated(config, site_path, abs_src_path=str(source)))
    return files
