from django.apps import AppConfig


class ImageOptimizerConfig(AppConfig):
    """Add "image_optimizer.contrib.django" to INSTALLED_APPS for the `{% load image_optimizer %}` filters."""

    name = "image_optimizer.contrib.django"
    label = "image_optimizer"
    verbose_name = "image-optimizer"
