"""The ThumbHash codec against the reference implementation's own output (tests/fixtures/thumbhash/vectors.json,
made by the npm package with make_vectors.mjs from fixed RGBA inputs)."""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import pytest
from PIL import Image

from image_optimizer.imaging import thumbhash
from image_optimizer.imaging.thumbhash import _encode, _encode_channel
from tests.conftest import FIXTURES_DIR

VECTORS = json.loads((FIXTURES_DIR / "thumbhash" / "vectors.json").read_text())
NOISE = 1e-9  # far above float noise (~1e-16 relative), far below a quantisation step (1/15)


def vector_id(vector: dict[str, Any]) -> str:
    return str(vector["name"])


def free_nibbles(vector: dict[str, Any]) -> set[int]:
    """The AC nibbles whose value is float noise, where neither implementation's answer is more right than the
    other's. A coefficient that is zero in exact arithmetic (a solid colour, a ramp along one axis, a symmetric
    disc) comes out as +-1e-17 or so, depending on the order of the additions and on the last bit of cos()
    (JavaScript's and C's differ): normalised, it sits on the tie 15 * 0.5 = 7.5 and rounds to 7 or 8; and when all
    of a channel's coefficients are zero, its scale is noise too and so is every factor (the decoder multiplies
    them by that scale quantised, 0)."""
    _, channels = _encode(vector["w"], vector["h"], base64.b64decode(vector["rgba"]))
    free, index = set(), 0
    for scale, factors in channels:
        for f in factors:
            if scale < NOISE or abs(15 * f - (math.floor(15 * f) + 0.5)) < NOISE:
                free.add(index)
            index += 1
    return free


def nibbles(hash_: bytes, start: int) -> list[int]:
    return [nibble for byte in hash_[start:] for nibble in (byte & 15, byte >> 4)]


def test_the_vectors_come_from_the_reference() -> None:
    assert VECTORS["source"] == "npm thumbhash 0.1.1"
    assert len(VECTORS["vectors"]) >= 16


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=vector_id)
def test_encoding_is_byte_exact_except_on_float_noise(vector: dict[str, Any]) -> None:
    ours = thumbhash.rgba_to_thumbhash(vector["w"], vector["h"], base64.b64decode(vector["rgba"]))
    reference = base64.b64decode(vector["hash"])
    ac_start = 6 if reference[2] & 0x80 else 5
    assert ours[:ac_start] == reference[:ac_start]  # DC terms, scales, aspect ratio, alpha: exact everywhere
    assert len(ours) == len(reference)
    differing = {
        i for i, (a, b) in enumerate(zip(nibbles(ours, ac_start), nibbles(reference, ac_start), strict=True)) if a != b
    }
    assert differing <= free_nibbles(vector)


def test_photos_and_noise_have_no_free_nibbles_so_they_are_compared_byte_for_byte() -> None:
    """Where it matters, the comparison above is a plain equality: real pictures have no exact zeros."""
    exact = {vector["name"] for vector in VECTORS["vectors"] if not free_nibbles(vector)}
    assert exact >= {
        "photo-kodim03-100x67",
        "photo-alpha-webp-100x75",
        "photo-kodim03-turned-67x100",
        "photo-exif6-100x67",
        "blobs-alpha-100x60",
        "waves-45x100",
        "noise-37x23",
        "noise-alpha-40x40",
    }
    for vector in VECTORS["vectors"]:
        if vector["name"] in exact:
            rgba = base64.b64decode(vector["rgba"])
            assert (
                base64.b64encode(thumbhash.rgba_to_thumbhash(vector["w"], vector["h"], rgba)).decode() == vector["hash"]
            )


def test_free_nibbles_are_float_noise_on_a_tie() -> None:
    """What free_nibbles claims: a ramp along x has coefficients along y that are zero up to float noise."""
    ramp = [x / 9 for _ in range(5) for x in range(10)]
    _, ac, scale = _encode_channel(ramp, 10, 5, 3, 3)
    assert scale > 0.1
    vertical = ac[2:]  # (cx, cy) = (0, 1), (1, 1), (0, 2): nothing varies along y
    assert all(abs(15 * f - 7.5) < NOISE for f in vertical), vertical


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=vector_id)
def test_decoding_is_byte_exact(vector: dict[str, Any]) -> None:
    hash_ = base64.b64decode(vector["hash"])
    w, h, rgba = thumbhash.thumbhash_to_rgba(hash_)
    assert (w, h) == (vector["decoded"]["w"], vector["decoded"]["h"])
    assert rgba == base64.b64decode(vector["decoded"]["rgba"])
    average = vector["average"]
    assert thumbhash.thumbhash_to_average_rgba(hash_) == (average["r"], average["g"], average["b"], average["a"])
    assert thumbhash.thumbhash_to_approximate_aspect_ratio(hash_) == vector["aspectRatio"]


def test_the_data_url_is_a_png_of_the_decoded_pixels() -> None:
    vector = next(v for v in VECTORS["vectors"] if v["name"] == "photo-alpha-webp-100x75")
    hash_ = base64.b64decode(vector["hash"])
    url = thumbhash.thumbhash_to_data_url(hash_)
    assert url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        assert image.format == "PNG" and image.mode == "RGBA"
        assert (image.width, image.height, image.tobytes()) == thumbhash.thumbhash_to_rgba(hash_)


@pytest.mark.parametrize(("w", "h"), [(101, 10), (10, 101), (0, 5)])
def test_inputs_past_the_reference_limits_are_refused(w: int, h: int) -> None:
    with pytest.raises(ValueError, match="doesn't fit"):
        thumbhash.rgba_to_thumbhash(w, h, bytes(max(w * h, 1) * 4))


def test_a_short_buffer_or_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 16 bytes"):
        thumbhash.rgba_to_thumbhash(2, 2, bytes(15))
    with pytest.raises(ValueError, match="at least 5 bytes"):
        thumbhash.thumbhash_to_rgba(b"\x01\x02")
