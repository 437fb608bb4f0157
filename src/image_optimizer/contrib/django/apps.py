from django.apps import AppConfig


class ImageOptimizerConfig(AppConfig):
    """Add "image_optimizer.contrib.django" to INSTALLED_APPS for the `{% load image_optimizer %}` filters."""

    name = "image_optimizer.contrib.django"
    label = "image_optimizer"
    verbose_name = "image-optimizer"

    def ready(self) -> None:
        """Django's ImageField checks uploads with Pillow: teach it HEIC/HEIF, which the function accepts."""
        from pillow_heif import register_heif_opener

        register_heif_opener()
