"""`{% optimized_image %}` and `image_info` through the example site's form and model, against the embedded S3 and
the real handler: each state of an upload, and markup whose every URL and size is that of an object written."""

from __future__ import annotations

import html
import io
import re
from dataclasses import replace
from typing import Any

import pytest
from django.template import Context, Template
from PIL import Image

from image_optimizer import handler
from image_optimizer.contrib.django import image_info
from image_optimizer.imaging import thumbhash
from image_optimizer.specs import parse_thumbnails
from tests.conftest import gradient, png_bytes
from tests.django.conftest import key_of
from tests.django.test_storage import fetch, upload

pytestmark = pytest.mark.django_db
TAG = Template('{% load image_optimizer %}{% optimized_image p.image alt=title class="photo" %}')


def render(photo: Any, title: str = "A <cat>", **context: Any) -> str:
    return TAG.render(Context({"p": photo, "title": title, **context}))


def attribute(markup: str, name: str) -> str:
    found = re.search(rf' {name}="([^"]*)"', markup)
    assert found, (name, markup)
    return html.unescape(found[1])


def function_settings(monkeypatch: pytest.MonkeyPatch, **pipeline: Any) -> None:
    function = handler.settings
    monkeypatch.setattr(handler, "settings", replace(function, pipeline=replace(function.pipeline, **pipeline)))
    handler.get_service.cache_clear()


def test_a_finished_image_is_a_responsive_img_over_its_placeholder(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    photo = upload(client, "cat.png", png_bytes(gradient(1200, 800)))
    run_function()
    markup = render(photo)

    assert markup.startswith("<img ") and "<picture>" not in markup  # no extra formats configured
    assert (attribute(markup, "width"), attribute(markup, "height")) == ("750", "500")
    assert attribute(markup, "alt") == "A <cat>" and "A &lt;cat&gt;" in markup
    assert attribute(markup, "loading") == "lazy" and attribute(markup, "decoding") == "async"
    assert attribute(markup, "class") == "photo"
    assert attribute(markup, "sizes") == "(max-width: 750px) 100vw, 750px"
    assert key_of(attribute(markup, "src"), bucket) == "media/photos/cat.jpg"
    # srcset: the main and every fit thumbnail with its real width, never the crop
    candidates = [item.rsplit(" ", 1) for item in attribute(markup, "srcset").split(", ")]
    assert [(key_of(url, bucket), width) for url, width in candidates] == [
        ("media/photos/cat_small.jpg", "320w"),
        ("media/photos/cat.jpg", "750w"),
    ]
    for url, width in candidates:
        with Image.open(io.BytesIO(fetch(url))) as image:
            assert f"{image.width}w" == width
    # the placeholder is painted behind it: the decoded ThumbHash from the main's metadata, over its average colour
    info = image_info(photo.image)
    assert info is not None and info.ready
    style = attribute(markup, "style")
    assert f"background:{info.average_color} url({info.placeholder_url}) center/cover no-repeat" in style
    assert "height:auto" in style
    assert info.placeholder_url == thumbhash.thumbhash_to_data_url(
        __import__("base64").b64decode(
            s3.head_object(Bucket=bucket, Key="media/photos/cat.jpg")["Metadata"]["thumbhash"]
        )
    )


def test_a_2x_main_and_extra_formats_make_a_picture(
    client: Any, bucket: str, s3: Any, run_function: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    thumbnails = "thumb:150x150:crop,small:320x320:fit,large:1500x1500:fit"
    settings.IMAGE_OPTIMIZER_THUMBNAILS = thumbnails
    settings.IMAGE_OPTIMIZER_EXTRA_FORMATS = "webp,avif"
    settings.STORAGES = {**settings.STORAGES}  # rebuild the storage with the new settings
    function_settings(monkeypatch, thumbnails=parse_thumbnails(thumbnails), extra_formats=("webp", "avif"))
    photo = upload(client, "wide.png", png_bytes(gradient(2400, 1600)))
    run_function()
    wide = Template('{% load image_optimizer %}{% optimized_image p.image alt="wide" sizes="50vw" %}')
    markup = wide.render(Context({"p": photo}))

    sources = re.findall(r'<source type="([^"]+)" srcset="([^"]+)" sizes="([^"]+)">', markup)
    assert [kind for kind, _, _ in sources] == ["image/avif", "image/webp"]
    for kind, srcset, sizes in sources:
        extension = kind.split("/")[1]
        listed = [item.rsplit(" ", 1) for item in html.unescape(srcset).split(", ")]
        assert [(key_of(url, bucket), width) for url, width in listed] == [
            (f"media/photos/wide_small.{extension}", "320w"),
            (f"media/photos/wide.{extension}", "750w"),
            (f"media/photos/wide_large.{extension}", "1500w"),
        ]
        assert sizes == "50vw"
    img = markup[markup.index("<img ") :]
    assert attribute(img, "srcset").endswith(" 1500w") and attribute(img, "sizes") == "50vw"
    assert markup.startswith("<picture><source ") and markup.endswith("></picture>")


def test_pending_shows_a_neutral_box_then_a_placeholder_box_at_the_right_aspect_ratio(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    photo = upload(client, "tall.png", png_bytes(gradient(600, 900)))
    waiting = render(photo)
    assert attribute(waiting, "data-state") == "pending" and "<img" not in waiting
    assert "aspect-ratio:3 / 2" in attribute(waiting, "style")  # nothing is known yet
    assert image_info(photo.image) is None

    run_function()
    s3.delete_object(Bucket=bucket, Key="media/photos/tall_small.jpg")  # the main written, a thumbnail not yet
    info = image_info(photo.image)
    assert info is not None and not info.ready
    box = render(photo)
    assert attribute(box, "data-state") == "pending" and "<img" not in box
    style = attribute(box, "style")
    assert "width:600px;max-width:100%;aspect-ratio:600 / 900" in style  # the main: 600x900, never upscaled
    assert f"url({info.placeholder_url})" in style


def test_a_rejected_upload_shows_its_reason_to_staff_only(
    client: Any, bucket: str, s3: Any, run_function: Any, settings: Any
) -> None:
    photo = upload(client, "notes.png", png_bytes(gradient(40, 30)))
    s3.put_object(Bucket=bucket, Key="incoming/photos/notes.png", Body=b"just some text, renamed")
    run_function()

    settings.DEBUG = True  # the example site has no auth: DEBUG stands for "the site's own staff"
    shown = render(photo)
    assert attribute(shown, "data-state") == "rejected"
    assert ">Rejected: not an image: the content is text<" in shown

    settings.DEBUG = False
    hidden = render(photo)
    assert "This image could not be processed." in hidden and "Rejected" not in hidden

    class Staff:
        is_staff = True

    class Request:
        user = Staff()

    assert "Rejected: " in render(photo, request=Request())
    Staff.is_staff = False
    assert "Rejected: " not in render(photo, request=Request())


def test_a_name_freed_by_delete_and_uploaded_again_is_described_afresh(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    first = upload(client, "again.png", png_bytes(gradient(900, 600)))
    run_function()
    info = image_info(first.image)
    assert info is not None and info.ready and (info.width, info.height) == (750, 500)
    name = first.image.name
    first.image.delete()
    assert image_info(name) is None

    second = upload(client, "again.png", png_bytes(gradient(400, 600)))
    assert second.image.name == name  # the same name, free again
    assert image_info(second.image) is None  # pending: not the old upload's answer
    run_function()
    info = image_info(second.image)
    assert info is not None and info.ready and (info.width, info.height) == (400, 600)


def test_renditions_written_before_placeholders_get_a_plain_img(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    photo = upload(client, "old.png", png_bytes(gradient(900, 600)))
    run_function()
    for key in [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="media/photos/old")["Contents"]]:
        s3.copy_object(  # as an earlier release wrote them: provenance only, and a colour that is not one
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            Metadata={"source-etag": "x", "average-color": "red;background:url(//evil)"},
            MetadataDirective="REPLACE",
        )
    info = image_info(photo.image)
    assert info is not None and info.ready and (info.width, info.height, info.average_color) == (0, 0, "")
    markup = render(photo)
    assert markup.startswith("<img src=") and "srcset" not in markup and "width=" not in markup and "evil" not in markup
    assert key_of(attribute(markup, "src"), bucket) == "media/photos/old.jpg"
