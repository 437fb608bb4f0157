"""`{% load image_optimizer %}` then `{{ photo.image|thumbnail_url:"thumb" }}` or `{{ photo.image|rendition_url:"small" }}`."""

from __future__ import annotations

from typing import Any

from django import template

from .. import helpers

register = template.Library()


@register.filter
def thumbnail_url(value: Any, thumbnail: str) -> str:
    return helpers.thumbnail_url(value, thumbnail)


@register.filter
def rendition_url(value: Any, rendition: str = "main") -> str:
    return helpers.rendition_url(value, rendition)
