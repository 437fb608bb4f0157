"""Django side of image-optimizer (`pip install 'image-optimizer[django]'`).

The site writes raw uploads to `incoming/`; the function turns them into `media/<stem>.jpg` and thumbnails.
`IncomingImageStorage` stores the *final* name on the model; the helpers derive URLs from the same naming rule
the function uses (`image_optimizer.specs`).
"""

from .helpers import (
    CropWindow,
    UploadRejected,
    crop_window,
    picture_sources,
    presigned_post,
    rendition_url,
    thumbnail_url,
    wait_until_ready,
)
from .page import ImageInfo, image_info
from .storage import IncomingImageStorage

__all__ = [
    "CropWindow",
    "ImageInfo",
    "IncomingImageStorage",
    "UploadRejected",
    "crop_window",
    "image_info",
    "picture_sources",
    "presigned_post",
    "rendition_url",
    "thumbnail_url",
    "wait_until_ready",
]
