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
from .storage import IncomingImageStorage

__all__ = [
    "IncomingImageStorage",
    "UploadRejected",
    "picture_sources",
    "presigned_post",
    "rendition_url",
    "thumbnail_url",
    "wait_until_ready",
]
