"""A focal point from the Django side (the storage and presigned_post), and the crop windows the helpers report,
against the embedded S3 server with the real handler."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from gallery.models import Photo

from image_optimizer.contrib.django import CropWindow, crop_window, presigned_post
from tests.conftest import png_bytes
from tests.django.test_storage import post_form
from tests.unit.test_crop import scene

pytestmark = pytest.mark.django_db


def picture() -> bytes:
    """900x450; the salient disc is on the left (x 105..195): a smart crop would go there on its own."""
    return png_bytes(scene((900, 450), (150, 225)))


def test_storage_save_sends_the_focal_point_and_the_thumbnail_keeps_it(bucket: str, s3: Any, run_function: Any) -> None:
    name = default_storage.save("photos/focused.png", ContentFile(picture()), focus=(0.8, 0.5))

    assert s3.head_object(Bucket=bucket, Key="incoming/photos/focused.png")["Metadata"] == {"focus": "0.8000,0.5000"}
    assert crop_window(name, "thumb") is None  # not written yet
    run_function()
    # the default thumb (150x150) is centred on x=720 as far as the image allows
    assert crop_window(name, "thumb") == CropWindow(450, 0, 900, 450, 900, 450)
    assert crop_window(name, "small") is None  # a fit thumbnail shows everything
    assert crop_window("", "thumb") is None


def test_a_model_save_carries_the_focal_point_on_the_file(bucket: str, s3: Any, run_function: Any) -> None:
    upload = SimpleUploadedFile("cat.png", picture(), content_type="image/png")
    upload.focus = (0.0, 0.0)  # type: ignore[attr-defined]
    photo = Photo.objects.create(title="cat", image=upload)
    run_function()

    assert crop_window(photo.image, "thumb") == CropWindow(0, 0, 450, 450, 900, 450)


def test_a_bad_focal_point_fails_before_anything_is_written(bucket: str, s3: Any) -> None:
    with pytest.raises(ValueError, match="outside 0-1"):
        default_storage.save("photos/bad.png", ContentFile(picture()), focus=(1.2, 0.5))
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # no original, no claimed name


def test_presigned_post_signs_the_focal_point(bucket: str, s3: Any, run_function: Any) -> None:
    post = presigned_post("wide.png", "image/png", 10_000_000, upload_to="photos", focus=(1, 0.5))
    assert post["fields"]["x-amz-meta-focus"] == "1.0000,0.5000"

    assert post_form(post, picture()) in (200, 201, 204)
    assert s3.head_object(Bucket=bucket, Key=post["key"])["Metadata"] == {"focus": "1.0000,0.5000"}
    run_function()
    assert crop_window(post["name"], "thumb") == CropWindow(450, 0, 900, 450, 900, 450)
    with pytest.raises(ValueError):
        presigned_post("wide.png", "image/png", 1000, focus=(0.5, -1))


def test_the_signed_policy_holds_the_focal_point_exactly(bucket: str) -> None:
    """S3 refuses a form whose fields break its policy (moto does not check policies, so the policy is read)."""
    post = presigned_post("wide.png", "image/png", 10_000_000, focus=(0.2, 0.5))
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    assert {"x-amz-meta-focus": "0.2000,0.5000"} in policy["conditions"]
    assert "x-amz-meta-focus" not in json.dumps(presigned_post("b.png", "image/png", 1000)["fields"])
