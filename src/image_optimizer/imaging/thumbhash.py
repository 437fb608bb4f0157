"""ThumbHash: a photo's colours, aspect ratio and alpha in about 24 bytes (Evan Wallace's algorithm,
https://github.com/evanw/thumbhash, MIT). Pure Python, no Pillow: the Django side decodes with it too.

Byte-for-byte the reference's output (tests/fixtures/thumbhash/vectors.json, made by the npm package): the encoder
sums its DCT separably (rows, then columns; the reference sums every coefficient over every pixel), which moves a
coefficient by ~1e-16 and the quantised hash by nothing; the decoder keeps the reference's order of operations.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections import deque
from collections.abc import Sequence
from itertools import accumulate
from operator import mul

MAX_SIDE = 100  # the reference refuses larger inputs: more pixels change nothing in 7 frequencies
DECODED_SIDE = 32  # the decoded placeholder's longer side, as the reference


def _round(value: float) -> int:
    """JavaScript's Math.round (halves go up), not Python's round (halves go to even)."""
    return math.floor(value + 0.5)


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    """Plain left-to-right sum of products, as JavaScript adds. Not sum(): its float sums are compensated from
    Python 3.12 on, and the function runs 3.12 while development runs 3.11 (the same bytes on both)."""
    total: float = deque(accumulate(map(mul, a, b), initial=0.0), maxlen=1)[0]
    return total


def _encode_channel(channel: Sequence[float], w: int, h: int, nx: int, ny: int) -> tuple[float, list[float], float]:
    """DC term, AC terms normalised to 0..1, and their scale: the reference's encodeChannel."""
    fx = [[math.cos(math.pi / w * cx * (x + 0.5)) for x in range(w)] for cx in range(nx)]
    rows = [channel[y * w : (y + 1) * w] for y in range(h)]
    # sums[cx][y]: row y against column frequency cx; every coefficient below is a dot product of two of these.
    sums = [[_dot(row, fx[cx]) for row in rows] for cx in range(nx)]
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        fy = [math.cos(math.pi / h * cy * (y + 0.5)) for y in range(h)]
        cx = 0
        while cx * ny < nx * (ny - cy):
            f = _dot(sums[cx], fy) / (w * h)
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def rgba_to_thumbhash(w: int, h: int, rgba: bytes) -> bytes:
    """The ThumbHash of a w x h image (w, h <= MAX_SIDE), RGBA row by row, not premultiplied."""
    hash_, channels = _encode(w, h, rgba)
    factors = [f for _, channel in channels for f in channel]
    ac_start = len(hash_)
    hash_.extend(bytes((len(factors) + 1) // 2))
    for index, f in enumerate(factors):
        hash_[ac_start + (index >> 1)] |= _round(15 * f) << ((index & 1) << 2)
    return bytes(hash_)


def _encode(w: int, h: int, rgba: bytes) -> tuple[bytearray, list[tuple[float, list[float]]]]:
    """The hash's constant bytes, and each channel's AC scale and normalised factors (L, P, Q, then A if any)
    before they are quantised into nibbles."""
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise ValueError(f"{w}x{h} doesn't fit in {MAX_SIDE}x{MAX_SIDE}")
    if len(rgba) != w * h * 4:
        raise ValueError(f"expected {w * h * 4} bytes of RGBA, got {len(rgba)}")
    reds, greens, blues, opacity = rgba[0::4], rgba[1::4], rgba[2::4], rgba[3::4]
    if opacity.count(255) == w * h:  # every main image (JPEG, flattened): the same arithmetic, without the alpha
        unit = [1.0 / 255 * value for value in range(256)]  # alpha / 255 * value with alpha 1.0, as below
        has_alpha, alphas = False, []
        rs, gs, bs = ([unit[value] for value in band] for band in (reds, greens, blues))
        lum = [(r + g + b) / 3 for r, g, b in zip(rs, gs, bs, strict=True)]
        yellow_blue = [(r + g) / 2 - b for r, g, b in zip(rs, gs, bs, strict=True)]
        red_green = [r - g for r, g in zip(rs, gs, strict=True)]
    else:
        has_alpha, alphas, (lum, yellow_blue, red_green) = True, [value / 255 for value in opacity], _lpq(rgba)
    l_limit = 5 if has_alpha else 7  # fewer luminance terms when alpha needs the room
    lx = max(1, _round(l_limit * w / max(w, h)))
    ly = max(1, _round(l_limit * h / max(w, h)))

    l_dc, l_ac, l_scale = _encode_channel(lum, w, h, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(yellow_blue, w, h, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(red_green, w, h, 3, 3)
    channels = [(l_scale, l_ac), (p_scale, p_ac), (q_scale, q_ac)]

    is_landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (has_alpha << 23)
    )
    header16 = (ly if is_landscape else lx) | (_round(63 * p_scale) << 3) | (_round(63 * q_scale) << 9)
    header16 |= is_landscape << 15
    hash_ = bytearray([header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8])
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(alphas, w, h, 5, 5)
        hash_.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        channels.append((a_scale, a_ac))
    return hash_, channels


def _lpq(rgba: bytes) -> tuple[list[float], list[float], list[float]]:
    """RGBA -> luminance, yellow-blue, red-green, composited atop the average colour (the reference's loop)."""
    reds, greens, blues, alphas = rgba[0::4], rgba[1::4], rgba[2::4], [value / 255 for value in rgba[3::4]]
    avg_r = avg_g = avg_b = avg_a = 0.0
    for alpha, red, green, blue in zip(alphas, reds, greens, blues, strict=True):
        avg_r += alpha / 255 * red
        avg_g += alpha / 255 * green
        avg_b += alpha / 255 * blue
        avg_a += alpha
    if avg_a:
        avg_r, avg_g, avg_b = avg_r / avg_a, avg_g / avg_a, avg_b / avg_a
    lum: list[float] = []
    yellow_blue: list[float] = []
    red_green: list[float] = []
    for alpha, red, green, blue in zip(alphas, reds, greens, blues, strict=True):
        r = avg_r * (1 - alpha) + alpha / 255 * red
        g = avg_g * (1 - alpha) + alpha / 255 * green
        b = avg_b * (1 - alpha) + alpha / 255 * blue
        lum.append((r + g + b) / 3)
        yellow_blue.append((r + g) / 2 - b)
        red_green.append(r - g)
    return lum, yellow_blue, red_green


def _header(hash_: bytes) -> tuple[int, int, bool, bool]:
    if len(hash_) < 5:
        raise ValueError(f"a ThumbHash has at least 5 bytes, got {len(hash_)}")
    header24 = hash_[0] | (hash_[1] << 8) | (hash_[2] << 16)
    header16 = hash_[3] | (hash_[4] << 8)
    return header24, header16, bool(header24 >> 23), bool(header16 >> 15)


def thumbhash_to_approximate_aspect_ratio(hash_: bytes) -> float:
    """Width / height, as coarsely as the hash holds it (store the real size beside it)."""
    _, header16, has_alpha, is_landscape = _header(hash_)
    lx = (5 if has_alpha else 7) if is_landscape else header16 & 7
    ly = header16 & 7 if is_landscape else (5 if has_alpha else 7)
    return lx / ly


def thumbhash_to_average_rgba(hash_: bytes) -> tuple[float, float, float, float]:
    """The average colour, each component 0..1, RGB not premultiplied."""
    header24, _, has_alpha, _ = _header(hash_)
    lum = (header24 & 63) / 63
    p = ((header24 >> 6) & 63) / 31.5 - 1
    q = ((header24 >> 12) & 63) / 31.5 - 1
    alpha = (hash_[5] & 15) / 15 if has_alpha else 1.0
    b = lum - 2 / 3 * p
    r = (3 * lum - b + q) / 2
    g = r - q
    return max(0.0, min(1.0, r)), max(0.0, min(1.0, g)), max(0.0, min(1.0, b)), alpha


def thumbhash_to_rgba(hash_: bytes) -> tuple[int, int, bytes]:
    """(w, h, RGBA) of the placeholder the hash describes, DECODED_SIDE px on its longer side."""
    header24, header16, has_alpha, is_landscape = _header(hash_)
    l_dc = (header24 & 63) / 63
    p_dc = ((header24 >> 6) & 63) / 31.5 - 1
    q_dc = ((header24 >> 12) & 63) / 31.5 - 1
    l_scale = ((header24 >> 18) & 31) / 31
    p_scale = ((header16 >> 3) & 63) / 63
    q_scale = ((header16 >> 9) & 63) / 63
    lx = max(3, (5 if has_alpha else 7) if is_landscape else header16 & 7)
    ly = max(3, header16 & 7 if is_landscape else (5 if has_alpha else 7))
    a_dc = (hash_[5] & 15) / 15 if has_alpha else 1.0
    a_scale = (hash_[5] >> 4) / 15 if has_alpha else 0.0

    ac_start = 6 if has_alpha else 5
    ac_index = 0

    def decode_channel(nx: int, ny: int, scale: float) -> list[tuple[int, int, float]]:
        """(cx, cy, coefficient) in the reference's order; saturation boosted by the caller's scale."""
        nonlocal ac_index
        terms = []
        for cy in range(ny):
            cx = 0 if cy else 1
            while cx * ny < nx * (ny - cy):
                nibble = (hash_[ac_start + (ac_index >> 1)] >> ((ac_index & 1) << 2)) & 15
                terms.append((cx, cy, (nibble / 7.5 - 1) * scale))
                ac_index += 1
                cx += 1
        return terms

    l_ac = decode_channel(lx, ly, l_scale)
    p_ac = decode_channel(3, 3, p_scale * 1.25)  # 1.25: the reference's boost, against quantisation's fading
    q_ac = decode_channel(3, 3, q_scale * 1.25)
    a_ac = decode_channel(5, 5, a_scale) if has_alpha else []

    ratio = thumbhash_to_approximate_aspect_ratio(hash_)
    w = _round(DECODED_SIDE if ratio > 1 else DECODED_SIDE * ratio)
    h = _round(DECODED_SIDE / ratio if ratio > 1 else DECODED_SIDE)
    nfx, nfy = max(lx, 5 if has_alpha else 3), max(ly, 5 if has_alpha else 3)
    fxs = [[math.cos(math.pi / w * (x + 0.5) * cx) for cx in range(nfx)] for x in range(w)]
    fys = [[math.cos(math.pi / h * (y + 0.5) * cy) for cy in range(nfy)] for y in range(h)]
    pq_ac = [(cx, cy, p, q) for (cx, cy, p), (_, _, q) in zip(p_ac, q_ac, strict=True)]
    rgba = bytearray(w * h * 4)
    i = 0
    for fy in fys:
        fy2 = [f * 2 for f in fy]
        for fx in fxs:
            lum, p, q, a = l_dc, p_dc, q_dc, a_dc
            for cx, cy, f in l_ac:
                lum += f * fx[cx] * fy2[cy]
            for cx, cy, pf, qf in pq_ac:
                factor = fx[cx] * fy2[cy]
                p += pf * factor
                q += qf * factor
            for cx, cy, f in a_ac:
                a += f * fx[cx] * fy2[cy]
            b = lum - 2 / 3 * p
            r = (3 * lum - b + q) / 2
            g = r - q
            # Uint8Array stores truncate: int(), not round().
            rgba[i : i + 4] = (
                int(max(0.0, 255 * min(1.0, r))),
                int(max(0.0, 255 * min(1.0, g))),
                int(max(0.0, 255 * min(1.0, b))),
                int(max(0.0, 255 * min(1.0, a))),
            )
            i += 4
    return w, h, bytes(rgba)


def rgba_to_png(w: int, h: int, rgba: bytes) -> bytes:
    """A minimal RGBA PNG (zlib-compressed, unlike the reference's stored blocks: a third the size)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + rgba[y * w * 4 : (y + 1) * w * 4] for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def thumbhash_to_data_url(hash_: bytes) -> str:
    """`data:image/png;base64,...` of the decoded placeholder, for a CSS background or an <img>."""
    return "data:image/png;base64," + base64.b64encode(rgba_to_png(*thumbhash_to_rgba(hash_))).decode()
