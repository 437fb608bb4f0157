"""Which code rendered the bytes: with the settings, it makes up the provenance fingerprint (provenance.py) that
decides whether renditions already written may stay."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from .color import DEFAULT_CMYK_PROFILE
from .encode import encoder_identity, package_version
from .specs import PipelineConfig

# The code that decides a rendition's bytes: a retry after a deploy that changed any of it must not keep the
# renditions the old code wrote beside the new code's. (Any change counts, comments too: a needless rewrite is
# harmless, a mix is not.)
RENDERING_MODULES = ("pipeline", "layout", "color", "decode", "encode", "jpegli")
RENDERING_FILES = (*(Path(__file__).with_name(f"{name}.py") for name in RENDERING_MODULES), DEFAULT_CMYK_PROFILE)


def identity(config: PipelineConfig) -> str:
    """What besides the settings decides the bytes: the JPEG encoder this config runs, with its version (a process
    where jpegli cannot load writes other bytes), Pillow's and pillow-heif's versions, and a digest of
    RENDERING_FILES. For example "jpegli 0.3.2 pillow 13.0.0 pillow-heif 1.8.1 code b4080081a6ba33b0"."""
    return (
        f"{encoder_identity(config.encoder)} pillow {package_version('pillow')} pillow-heif {package_version('pillow-heif')}"
        f" code {files_digest(RENDERING_FILES)}"
    )


@lru_cache(maxsize=4)
def files_digest(paths: tuple[Path, ...]) -> str:
    """A file that cannot be read (a package shipped without its sources) counts by name: the fingerprint then
    misses changes to it, but uploads are still processed."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(f"unreadable {path.name}".encode())
    return digest.hexdigest()[:16]
