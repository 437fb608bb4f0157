from django.db import models
from django.utils.functional import cached_property

from image_optimizer.contrib.django import ImageInfo, image_info


class Photo(models.Model):
    title = models.CharField(max_length=200, blank=True)
    # The storage writes the raw upload to incoming/photos/… and stores the final name photos/<stem>.jpg.
    # No width_field/height_field: the rendition does not exist yet when the model is saved.
    image = models.ImageField(upload_to="photos/")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title or self.image.name

    @cached_property
    def ready(self) -> bool:
        """The function has written every rendition (one HEAD and one LIST)."""
        return self.image.storage.is_ready(self.image.name)

    @cached_property
    def info(self) -> ImageInfo | None:
        """Sizes and placeholder from the main rendition's metadata (None until it exists)."""
        return image_info(self.image)

    @cached_property
    def rejection(self) -> str:
        """Why the function refused the upload ("" unless it was moved to failed/)."""
        found = None if self.ready else self.image.storage.rejection(self.image.name)
        return found[1] if found else ""
