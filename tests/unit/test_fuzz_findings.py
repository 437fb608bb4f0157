"""Regressions from the fuzzing campaign (fuzz/, `make fuzz`): each finding's minimised input, and the contract it
broke. Fixtures: tests/fixtures/SOURCES.md."""

from __future__ import annotations

import io

from PIL import Image

from image_optimizer.imaging import decode, pipeline
from image_optimizer.specs import PipelineConfig
from tests.conftest import FIXTURES_DIR


def test_heif_whose_clean_aperture_is_wider_than_its_image_is_planned_on_the_pixels_decoded() -> None:
    """A HEIF whose 'clap' box says 53 px wide over a 48 px image (one byte off a valid file): the header gives
    53x32, the decoder 51x32. Planned on the header, the renditions were stretched to 53 px, an upscale."""
    data = (FIXTURES_DIR / "heif_clap_53_wide_decodes_51x32.heic").read_bytes()
    decoded = decode.open_image(data, max_pixels=10**6)
    assert (decoded.width, decoded.height) == (53, 32)
    assert decode.load(decoded).size == (51, 32)

    result = pipeline.optimize(data, PipelineConfig(threads=1))

    assert (result.source_width, result.source_height) == (51, 32)
    sizes = {rendition.name: (rendition.width, rendition.height) for rendition in result.renditions}
    assert sizes == {"main": (51, 32), "thumb": (32, 32), "small": (51, 32)}
    for rendition in result.renditions:  # and the files are what they say
        assert Image.open(io.BytesIO(rendition.data)).size == (rendition.width, rendition.height)
