"""Django side of image-optimizer (`pip install 'image-optimizer[django]'`).

The site writes raw uploads to `incoming/`; the function turns them into `media/<stem>.jpg` and thumbnails.
`IncomingImageStorage` stores the *final* name on the model; the helpers derive URLs from the same naming rule
the function uses (`image_optimizer.specs`).
"""

from .helpers import (
    UploadRejected,
    picture_sources,
    presigned_post,
    rendition_url,
    thumbnail_url,
    wait_until_ready,
)
from .page import ImageInfo, image_info
from .storage import IncomingImageStorage

__all__ = [
    "ImageInfo",
    "IncomingImageStorage",
    "UploadRejected",
    "image_info",
    "picture_sources",
    "presigned_post",
    "rendition_url",
    "thumbnail_url",
    "wait_until_ready",
]
