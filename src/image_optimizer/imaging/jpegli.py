"""jpegli's JPEG encoder through the C API the pyjpegli wheel exports.

pyjpegli's own `encode` only writes baseline JPEG. jpegli itself writes progressive scans with optimal Huffman
tables: measured on a 750 px photo, 9 % fewer bytes than its baseline, as small as mozjpeg's lossless re-pack
of that baseline in a quarter of the time (pixels identical). So this module drives the libjpeg-style API of
the library inside pyjpegli's extension (`jpegli_*` symbols) with ctypes.

Only the fields libjpeg programs set directly are written into jpegli's `jpeg_compress_struct` (libjpeg 6.2
API, 520 bytes on 64-bit Linux: image_width, image_height, input_components, in_color_space at byte 48, read
from pyjpegli 0.3.2's own calls, on x86_64 and aarch64 alike). The layout is trusted for the pyjpegli versions
listed here only (pinned in requirements/layer.txt and pyproject.toml); another version, a missing symbol or a
baseline encode that differs from pyjpegli.encode's by a byte (checked once per process), and `load()` returns
None: Pillow encodes instead. That check cannot catch a wrong struct size, which jpegli answers by ending the
process, hence the version pin. Inputs are checked before any call for the same reason: jpegli's default error
handler exits.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

from .layout import JPEG_MAX_SIDE

SUPPORTED_PYJPEGLI = ("0.3.2",)
JPEG_LIB_VERSION = 62
COMPRESS_STRUCT_SIZE = 520
ERROR_MANAGER_SIZE = 512  # jpeg_error_mgr is 168 bytes on 64-bit Linux: room to spare
IMAGE_FIELDS_OFFSET = 48  # image_width, image_height, input_components, in_color_space: four 32-bit fields
JCS_RGB = 2
# cinfo->comp_info (after data_precision, num_components, jpeg_color_space) points to the components' info, luma
# first, whose h_samp_factor, v_samp_factor sit at byte 8: luma 2x2 (jpegli's default) is 4:2:0, 1x1 is 4:4:4.
COMP_INFO_OFFSET = 88
SAMPLING_FACTORS_OFFSET = 8
MAX_DIMENSION = JPEG_MAX_SIDE
PROGRESSIVE_LEVEL = 2  # jpegli's default scan script for progressive output (cjpegli's)

_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[list[type], type | None]] = {
    "jpegli_std_error": ([_P], _P),
    "jpegli_CreateCompress": ([_P, ctypes.c_int, ctypes.c_size_t], None),
    "jpegli_mem_dest": ([_P, _P, _P], None),
    "jpegli_set_defaults": ([_P], None),
    "jpegli_set_quality": ([_P, ctypes.c_int, ctypes.c_int], None),
    "jpegli_set_progressive_level": ([_P, ctypes.c_int], None),
    "jpegli_enable_adaptive_quantization": ([_P, ctypes.c_int], None),
    "jpegli_start_compress": ([_P, ctypes.c_int], None),
    "jpegli_write_scanlines": ([_P, _P, ctypes.c_uint], ctypes.c_uint),
    "jpegli_finish_compress": ([_P], None),
    "jpegli_destroy_compress": ([_P], None),
}


class JpegliEncoder:
    def __init__(self, library: ctypes.CDLL, free: ctypes._NamedFuncPointer) -> None:
        self._lib = library
        self._free = free

    def encode(
        self,
        rgb: bytes,
        width: int,
        height: int,
        *,
        quality: int,
        progressive: bool,
        subsampled: bool = True,
        adaptive: bool = True,
    ) -> bytes:
        """Packed 8-bit RGB -> JPEG (no metadata), baseline or progressive with optimal Huffman tables; chroma
        4:2:0 (jpegli's default), or 4:4:4 when not `subsampled`; jpegli's adaptive quantization (its default:
        coarser where its masking model expects texture to hide the error) unless not `adaptive`."""
        if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION and 1 <= quality <= 100):
            raise ValueError(f"jpegli: cannot encode {width}x{height} at quality {quality}")
        if len(rgb) != width * height * 3:
            raise ValueError(f"jpegli: {len(rgb)} bytes is not {width}x{height} RGB")
        lib = self._lib
        cinfo = ctypes.create_string_buffer(COMPRESS_STRUCT_SIZE)
        errors = ctypes.create_string_buffer(ERROR_MANAGER_SIZE)
        ctypes.c_void_p.from_buffer(cinfo).value = lib.jpegli_std_error(errors)  # cinfo->err, the first field
        lib.jpegli_CreateCompress(cinfo, JPEG_LIB_VERSION, COMPRESS_STRUCT_SIZE)
        output, size = ctypes.c_void_p(), ctypes.c_ulong()
        try:
            lib.jpegli_mem_dest(cinfo, ctypes.byref(output), ctypes.byref(size))
            image_fields = (ctypes.c_uint * 4).from_buffer(cinfo, IMAGE_FIELDS_OFFSET)
            image_fields[:] = [width, height, 3, JCS_RGB]
            lib.jpegli_set_defaults(cinfo)
            if not subsampled:
                luma = ctypes.c_void_p.from_buffer(cinfo, COMP_INFO_OFFSET).value
                if not luma:
                    raise RuntimeError("jpegli: no component info after set_defaults")
                (ctypes.c_int * 2).from_address(luma + SAMPLING_FACTORS_OFFSET)[:] = [1, 1]
            lib.jpegli_set_quality(cinfo, quality, 1)
            if not adaptive:
                lib.jpegli_enable_adaptive_quantization(cinfo, 0)
            lib.jpegli_set_progressive_level(cinfo, PROGRESSIVE_LEVEL if progressive else 0)
            lib.jpegli_start_compress(cinfo, 1)
            pixels = ctypes.c_char_p(rgb)  # points into `rgb` itself (read only, no copy); kept alive until return
            start, stride = ctypes.cast(pixels, ctypes.c_void_p).value or 0, width * 3
            rows = (ctypes.c_void_p * height)(*range(start, start + height * stride, stride))
            written = lib.jpegli_write_scanlines(cinfo, rows, height)
            if written != height:
                raise RuntimeError(f"jpegli wrote {written} of {height} rows")
            lib.jpegli_finish_compress(cinfo)
            return ctypes.string_at(output, size.value)
        finally:
            lib.jpegli_destroy_compress(cinfo)
            if output.value:
                self._free(output)


@lru_cache(maxsize=1)
def load() -> JpegliEncoder | None:
    """The encoder, or None when pyjpegli is missing, not a version whose layout is known, or fails the check."""
    from importlib import metadata  # here, not at import: the handler's cold start does not pay for it

    try:
        import pyjpegli

        if metadata.version("pyjpegli") not in SUPPORTED_PYJPEGLI:
            return None
        library = ctypes.CDLL(pyjpegli.__file__)
        for name, (arguments, result) in _SIGNATURES.items():
            function = getattr(library, name)
            function.argtypes, function.restype = arguments, result
        free = ctypes.CDLL(None).free
        free.argtypes, free.restype = [_P], None
    except (ImportError, OSError, AttributeError, metadata.PackageNotFoundError):
        return None
    encoder = JpegliEncoder(library, free)
    width, height = 24, 16
    sample = bytes((x * 11 + y * 7 + c * 50) % 256 for y in range(height) for x in range(width) for c in range(3))
    if encoder.encode(sample, width, height, quality=85, progressive=False) != bytes(
        pyjpegli.encode(sample, width, height, quality=85)
    ):
        return None
    return encoder
