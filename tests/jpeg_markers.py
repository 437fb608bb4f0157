"""Read the marker segments of a JPEG up to the scan data, to prove what an output does not carry."""

from __future__ import annotations

NAMES = {0xE0: "APP0", 0xE1: "APP1", 0xE2: "APP2", 0xED: "APP13", 0xFE: "COM"}


def segments(data: bytes) -> list[tuple[int, bytes]]:
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    found = []
    position = 2
    while position < len(data):
        assert data[position] == 0xFF, f"bad marker at {position}"
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: no metadata after this point matters
            break
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        found.append((marker, data[position + 4 : position + 2 + length]))
        position += 2 + length
    return found


def metadata_markers(data: bytes) -> list[str]:
    """Every segment other than JFIF/tables/frame: EXIF, XMP, ICC, IPTC, comments, maker data."""
    allowed = {0xDB, 0xC4, 0xC0, 0xC1, 0xC2, 0xDD}
    kept = []
    for marker, payload in segments(data):
        if marker in allowed or (marker == 0xE0 and payload.startswith(b"JFIF\x00")):
            continue
        kept.append(NAMES.get(marker, hex(marker)))
    return kept
