"""`{% load image_optimizer %}` then `{{ photo.image|thumbnail_url:"thumb" }}`, `{{ photo.image|rendition_url:"small" }}`
or `{% picture photo.image "small" alt="A cat" %}` (a `<picture>` with the EXTRA_FORMATS siblings as sources), or
`{% optimized_image photo.image alt="A cat" %}` (responsive, over its placeholder, by the upload's state: page.py)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, format_html_join

from .. import helpers, page

register = template.Library()


@register.filter
def thumbnail_url(value: Any, thumbnail: str) -> str:
    return helpers.thumbnail_url(value, thumbnail)


@register.filter
def rendition_url(value: Any, rendition: str = "main") -> str:
    return helpers.rendition_url(value, rendition)


@register.simple_tag
def picture(value: Any, rendition: str = "main", alt: str = "", **attributes: Any) -> str:
    """`<picture>`: one `<source>` per extra format (AVIF, WebP), then the JPEG `<img>` with `alt` and any other
    attributes given (class, loading, width...)."""
    sources = format_html_join("", '<source type="{}" srcset="{}">', helpers.picture_sources(value, rendition))
    extra = format_html_join("", ' {}="{}"', sorted(attributes.items()))
    return str(
        format_html(
            '<picture>{}<img src="{}" alt="{}"{}></picture>',
            sources,
            helpers.rendition_url(value, rendition),
            alt,
            extra,
        )
    )


@register.simple_tag(takes_context=True)
def optimized_image(
    context: Any, value: Any, alt: str = "", sizes: str = "", show_reason: bool | None = None, **attributes: Any
) -> str:
    """`<img src srcset sizes width height loading="lazy" decoding="async" alt>` painted over its ThumbHash (in a
    `<picture>` with EXTRA_FORMATS); a box at the right aspect ratio while pending; the rejection reason for staff
    (`show_reason`, by default: a staff user, or DEBUG on a site without auth)."""
    if show_reason is None:
        show_reason = page.reason_allowed(context)
    return str(page.render_image(value, alt=alt, sizes=sizes, show_reason=show_reason, **attributes))
