"""Which code rendered the bytes: with the settings, it makes up the provenance fingerprint (provenance.py) that
decides whether renditions already written may stay."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..imaging.color import DEFAULT_CMYK_PROFILE
from ..imaging.encode import jpeg_encoder
from ..specs import PipelineConfig

# The code that decides a rendition's bytes is the imaging package, whole (it imports nothing else that shapes
# them: tests/unit/test_layers.py): a retry after a deploy that changed any of it must not keep the renditions the
# old code wrote beside the new code's. (Any change counts, comments too: a needless rewrite is harmless, a mix is
# not.)
IMAGING_PACKAGE = DEFAULT_CMYK_PROFILE.parent.parent


def rendering_files() -> tuple[Path, ...]:
    """The imaging package's sources and the colour profiles shipped with it (listed when asked for, not at the
    cold start)."""
    return (*sorted(IMAGING_PACKAGE.glob("*.py")), *sorted(DEFAULT_CMYK_PROFILE.parent.glob("*.icc")))


def identity(config: PipelineConfig) -> str:
    """What besides the settings decides the bytes: the JPEG encoder this config runs, with its version (a process
    where jpegli cannot load writes other bytes), Pillow's and pillow-heif's versions, and a digest of
    rendering_files(). Computed once per process (RenditionWriter.fingerprint). For example "jpegli 0.3.2 pillow 13.0.0 pillow-heif 1.8.1 code b4080081a6ba33b0"."""
    return (
        f"{encoder_identity(config.encoder)} pillow {package_version('pillow')} pillow-heif {package_version('pillow-heif')}"
        f" code {files_digest(rendering_files())}"
    )


def encoder_identity(requested: str) -> str:
    """The JPEG encoder `requested` resolves to in this process, and its package version: `jpegli 0.3.2`."""
    name = jpeg_encoder(requested)
    return f"{name} {package_version('pyjpegli' if name == 'jpegli' else 'pillow')}"


def package_version(distribution: str) -> str:
    """An installed package's version, or "none"."""
    from importlib import metadata  # here, not at import: the handler's cold start does not pay for it

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "none"


def files_digest(paths: tuple[Path, ...]) -> str:
    """A file that cannot be read (a package shipped without its sources) counts by its name, with a warning: the
    fingerprint then misses changes to it, but uploads are still processed."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(path.read_bytes())
        except OSError as error:
            from .observability import logger

            logger.warning(
                "rendering code unreadable: a deploy changing it would not rewrite renditions on a retry",
                path=str(path),
                error=str(error),
            )
            digest.update(f"unreadable {path.name}".encode())
    return digest.hexdigest()[:16]
