"""IncomingImageStorage and the helpers, driven through the example site's form, model and template."""

from __future__ import annotations

import html
import io
import re
import threading
import time
import urllib.request
from dataclasses import replace
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from gallery.models import Photo
from PIL import Image

from image_optimizer.contrib.django import (
    IncomingImageStorage,
    UploadRejected,
    presigned_post,
    thumbnail_url,
    wait_until_ready,
)
from tests.conftest import SAMPLES_DIR, gradient, jpeg_bytes, png_bytes
from tests.django.conftest import key_of, keys

pytestmark = pytest.mark.django_db


def upload(client: Any, name: str, data: bytes, content_type: str = "image/png") -> Photo:
    before = set(Photo.objects.values_list("pk", flat=True))
    response = client.post("/", {"title": name, "image": SimpleUploadedFile(name, data, content_type=content_type)})
    assert response.status_code == 302, response.content.decode()[:2000]
    (photo,) = Photo.objects.exclude(pk__in=before)
    return photo


def unsupported_image() -> bytes:
    """A real image (Django's ImageField accepts it) in a format the function refuses: quarantined."""
    buffer = io.BytesIO()
    gradient(30, 20).save(buffer, "PPM")
    return buffer.getvalue()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return bytes(response.read())


def test_a_form_upload_writes_the_raw_file_to_incoming_and_stores_the_final_name(
    client: Any, bucket: str, s3: Any
) -> None:
    data = png_bytes(gradient(900, 600))

    photo = upload(client, "My Cat.png", data)

    assert photo.image.name == "photos/My_Cat.jpg"
    assert keys(s3, bucket, "") == ["incoming/photos/My_Cat.png", "media/photos/My_Cat.claim"]
    raw = s3.get_object(Bucket=bucket, Key="incoming/photos/My_Cat.png")
    assert raw["Body"].read() == data
    assert raw["ContentType"] == "image/png"
    grants = s3.get_object_acl(Bucket=bucket, Key="incoming/photos/My_Cat.png")["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]  # the owner only: nothing public
    assert "uri" not in str(grants).lower()
    assert not photo.ready


def test_the_function_writes_exactly_what_the_urls_point_to(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    photo = upload(client, "holiday.jpg", jpeg_bytes(gradient(1600, 1200)))
    assert "processing" in client.get("/").content.decode()

    assert run_function() == 1

    photo = Photo.objects.get(pk=photo.pk)
    urls = {
        "main": photo.image.url,
        "thumb": thumbnail_url(photo.image, "thumb"),
        "small": thumbnail_url(photo.image.name, "small"),
    }
    assert sorted(key_of(url, bucket) for url in urls.values()) == keys(s3, bucket, "media/photos/holiday.jpg") + keys(
        s3, bucket, "media/photos/holiday_"
    )
    assert keys(s3, bucket, "") == sorted(
        [*(key_of(url, bucket) for url in urls.values()), "media/photos/holiday.claim"]
    )
    sizes = {}
    for name, url in urls.items():
        body = fetch(url)
        assert body == s3.get_object(Bucket=bucket, Key=key_of(url, bucket))["Body"].read()
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "JPEG"
            sizes[name] = image.size
    assert sizes == {"main": (750, 562), "thumb": (150, 150), "small": (320, 240)}
    assert photo.ready and wait_until_ready(photo.image, timeout=0)
    page = client.get("/").content.decode()
    assert "processing" not in page
    shown = dict(re.findall(r'<img class="(thumb|small)" src="([^"]+)"', page))
    shown |= {name: url for url, name in re.findall(r'<img src="([^"]+)"[^>]* class="(main)"', page)}
    assert {name: key_of(html.unescape(url), bucket) for name, url in shown.items()} == {
        name: key_of(url, bucket) for name, url in urls.items()
    }


def test_names_stay_unique_across_pending_processed_rejected_and_thumbnail_names(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    first = upload(client, "photo.png", png_bytes(gradient(400, 300)))
    same_name_pending = upload(client, "photo.png", png_bytes(gradient(401, 300)))
    other_extension = upload(client, "photo.jpg", jpeg_bytes(gradient(402, 300)), "image/jpeg")
    thumbnail_lookalike = upload(client, "photo_thumb.png", png_bytes(gradient(403, 300)))
    run_function()
    same_name_processed = upload(client, "photo.png", png_bytes(gradient(404, 300)))
    rejected = upload(client, "scan.ppm", unsupported_image(), "image/x-portable-pixmap")
    run_function()
    after_rejection = upload(client, "scan.png", png_bytes(gradient(406, 300)))
    run_function()

    photos = [first, same_name_pending, other_extension, thumbnail_lookalike, same_name_processed, after_rejection]
    names = [photo.image.name for photo in photos] + [rejected.image.name]
    assert len(set(names)) == len(names)
    assert first.image.name == "photos/photo.jpg"
    assert rejected.image.name == "photos/scan.jpg" and after_rejection.image.name != "photos/scan.jpg"
    assert not thumbnail_lookalike.image.name.endswith("_thumb.jpg")
    # Every upload kept its own renditions: 3 each, and each main is its own upload's width (400, 401, ...).
    assert len([key for key in keys(s3, bucket, "media/") if key.endswith(".jpg")]) == 3 * len(photos)
    for photo, width in zip(photos, [400, 401, 402, 403, 404, 406], strict=True):
        with Image.open(io.BytesIO(fetch(photo.image.url))) as image:
            assert image.width == width, photo.image.name
    assert keys(s3, bucket, "incoming/") == []
    assert keys(s3, bucket, "failed/") == ["failed/photos/scan.ppm"]


def test_a_name_claimed_between_the_check_and_the_write_is_not_overwritten(bucket: str, s3: Any) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/race.png", Body=b"the other upload")
    storage = default_storage
    real = IncomingImageStorage.is_free
    calls = iter([True])  # the first check misses the other upload, as if it landed just after
    with mock.patch.object(IncomingImageStorage, "is_free", lambda self, name: next(calls, None) or real(self, name)):
        name = storage.save("race.png", ContentFile(png_bytes(gradient(20, 20))))

    assert name != "race.jpg" and name.startswith("race_") and name.endswith(".jpg")
    assert s3.get_object(Bucket=bucket, Key="incoming/race.png")["Body"].read() == b"the other upload"


def test_delete_removes_every_rendition_and_a_pending_original(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    done = upload(client, "done.png", png_bytes(gradient(300, 200)))
    run_function()
    waiting = upload(client, "waiting.png", png_bytes(gradient(300, 200)))
    assert len(keys(s3, bucket, "")) == 6  # 3 renditions + a pending original + the two claims

    done.image.delete(save=False)
    waiting.image.delete(save=False)

    assert keys(s3, bucket, "") == []


def test_wait_until_ready_reports_done_pending_and_rejected(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    photo = upload(client, "slow.png", png_bytes(gradient(300, 200)))
    started = time.monotonic()
    assert wait_until_ready(photo.image, timeout=0.3, interval=0.1) is False
    assert time.monotonic() - started >= 0.3

    threading.Timer(0.5, run_function).start()
    assert wait_until_ready(photo.image.name, timeout=30, interval=0.1) is True

    bad = upload(client, "bad.ppm", unsupported_image(), "image/x-portable-pixmap")
    run_function()
    with pytest.raises(UploadRejected) as raised:
        wait_until_ready(bad.image, timeout=30)
    assert raised.value.key == "failed/photos/bad.ppm"
    assert raised.value.reason
    assert Photo.objects.get(pk=bad.pk).rejection == raised.value.reason


def test_template_filters_share_the_naming_rule(bucket: str, s3: Any) -> None:
    photo = Photo(image="albums/2024/beach.jpg")
    rendered = Template('{% load image_optimizer %}{{ p.image|thumbnail_url:"thumb" }} {{ p.image|rendition_url }}')
    thumb, main = rendered.render(Context({"p": photo})).split()
    assert key_of(thumb.replace("&amp;", "&"), bucket) == "media/albums/2024/beach_thumb.jpg"
    assert key_of(main.replace("&amp;", "&"), bucket) == "media/albums/2024/beach.jpg"
    with pytest.raises(ValueError, match="unknown rendition 'huge'; configured: main, thumb, small"):
        thumbnail_url(photo.image, "huge")
    assert thumbnail_url(Photo().image, "thumb") == ""


def test_prefixes_and_thumbnails_come_from_django_settings(bucket: str, settings: Any, s3: Any) -> None:
    settings.IMAGE_OPTIMIZER_INCOMING_PREFIX = "uploads/"
    settings.IMAGE_OPTIMIZER_OUTPUT_PREFIX = "public/"
    settings.IMAGE_OPTIMIZER_THUMBNAILS = "tiny:50x50:crop"
    settings.STORAGES = {**settings.STORAGES}  # rebuild the storage with the new settings

    name = default_storage.save("a/b.png", ContentFile(png_bytes(gradient(20, 20))))

    assert name == "a/b.jpg"
    assert keys(s3, bucket, "") == ["public/a/b.claim", "uploads/a/b.png"]
    assert key_of(thumbnail_url(name, "tiny"), bucket) == "public/a/b_tiny.jpg"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"output_prefix": "media"}, "output_prefix (IMAGE_OPTIMIZER_OUTPUT_PREFIX) = 'media'"),
        ({"location": "site"}, "leave `location` (AWS_LOCATION) empty"),
        ({"thumbnails": "thumb:0x0:crop"}, "thumbnails (IMAGE_OPTIMIZER_THUMBNAILS)"),
        ({"extra_formats": "webp,gif"}, "extra_formats (IMAGE_OPTIMIZER_EXTRA_FORMATS)"),
    ],
)
def test_bad_configuration_names_the_setting(options: dict[str, str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        IncomingImageStorage(bucket_name="b", **options)
    assert message in str(raised.value)


def test_presigned_post_uploads_straight_to_incoming(bucket: str, s3: Any, run_function: Any) -> None:
    post = presigned_post("Big Photo.jpg", "image/jpeg", 10_000_000, upload_to="photos")
    assert post["key"] == "incoming/photos/Big_Photo.jpg"
    assert post["name"] == "photos/Big_Photo.jpg"
    assert post["fields"]["key"] == post["key"]
    assert post["fields"]["Content-Type"] == "image/jpeg"

    status = post_form(post, jpeg_bytes(gradient(800, 600)))

    assert status in (200, 201, 204)
    run_function()
    assert wait_until_ready(post["name"], timeout=0)
    with pytest.raises(ValueError, match="not an image type"):
        presigned_post("page.html", "text/html", 1000)


def post_form(post: dict[str, Any], body: bytes, content_type: str | None = None) -> int:
    """A browser's multipart form POST: the fields, then the file last."""
    import requests

    fields = dict(post["fields"])
    if content_type:
        fields["Content-Type"] = content_type
    response = requests.post(post["url"], data=fields, files={"file": ("upload", body)}, timeout=30)
    return response.status_code


def test_the_example_direct_upload_flow(client: Any, bucket: str, s3: Any, run_function: Any) -> None:
    """What the example page's script does: ask for a presigned POST, upload to S3, hand back the signed ticket."""
    refused = client.post(
        "/direct-upload/", {"filename": "notes.txt", "content_type": "text/plain"}, "application/json"
    )
    assert refused.status_code == 400 and "not an image type" in refused.json()["error"]

    ticket = client.post("/direct-upload/", {"filename": "big.jpg", "content_type": "image/jpeg"}, "application/json")
    assert ticket.status_code == 200
    early = client.post("/direct-upload/done/", {"ticket": ticket.json()["ticket"]}, "application/json")
    assert early.status_code == 400  # nothing uploaded yet
    forged = client.post("/direct-upload/done/", {"ticket": "photos/someone-else.jpg"}, "application/json")
    assert forged.status_code == 400  # the browser cannot name another photo
    assert post_form(ticket.json(), jpeg_bytes(gradient(1200, 900))) == 204
    done = client.post("/direct-upload/done/", {"ticket": ticket.json()["ticket"]}, "application/json")
    assert done.status_code == 200
    run_function()

    photo = Photo.objects.get(pk=done.json()["id"])
    assert photo.image.name == "photos/big.jpg"
    assert photo.ready
    shown = re.search(r'<img src="([^"]+)"[^>]* class="main"', client.get("/").content.decode())
    assert shown and key_of(html.unescape(shown[1]), bucket) == "media/photos/big.jpg"


def test_concurrent_uploads_of_one_stem_get_different_names(bucket: str, s3: Any) -> None:
    """photo.png and photo.jpg saved at once: both pass the listing check before either writes; the stem claim
    lets exactly one keep `photo`."""
    both_checked = threading.Barrier(2, timeout=10)
    real = IncomingImageStorage.is_free

    def slow_is_free(self: IncomingImageStorage, name: str) -> bool:
        free = real(self, name)
        if name in ("photo.png", "photo.jpg"):
            both_checked.wait()
        return free

    names: dict[str, str] = {}

    def save(name: str) -> None:
        names[name] = default_storage.save(name, ContentFile(png_bytes(gradient(20, 20))))

    with mock.patch.object(IncomingImageStorage, "is_free", slow_is_free):
        threads = [threading.Thread(target=save, args=(name,)) for name in ("photo.png", "photo.jpg")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert sorted(names) == ["photo.jpg", "photo.png"]
    assert len(set(names.values())) == 2 and "photo.jpg" in names.values()


def test_a_rejected_name_stays_taken_after_failed_expires(client: Any, bucket: str, s3: Any, run_function: Any) -> None:
    rejected = upload(client, "scan.ppm", unsupported_image(), "image/x-portable-pixmap")
    run_function()
    s3.delete_object(Bucket=bucket, Key="failed/photos/scan.ppm")  # what the lifecycle rule does after N days

    later = upload(client, "scan.png", png_bytes(gradient(40, 30)))

    assert rejected.image.name == "photos/scan.jpg"
    assert later.image.name != rejected.image.name  # the old row never shows somebody else's photo
    rejected.image.delete(save=False)  # deleting the row's file frees the name
    assert default_storage.get_available_name("photos/scan.gif") == "photos/scan.gif"


@pytest.mark.parametrize(("name", "stored"), [("..png", "..png.jpg"), ("cat.", "cat..jpg"), ("a.b.c.png", "a.b.c.jpg")])
def test_odd_names_get_the_functions_own_final_name(
    name: str, stored: str, bucket: str, s3: Any, run_function: Any
) -> None:
    saved = default_storage.save(name, ContentFile(png_bytes(gradient(40, 30))))
    run_function()
    assert saved == stored
    assert default_storage.is_ready(saved)  # the function wrote exactly the keys this name points to


def test_max_length_bounds_the_stored_name_everywhere(bucket: str, s3: Any) -> None:
    long_name = "x" * 120 + ".png"
    saved = default_storage.save(long_name, ContentFile(png_bytes(gradient(20, 20))), max_length=100)
    assert len(saved) <= 100 and saved.endswith(".jpg")
    with pytest.raises(SuspiciousFileOperation):
        default_storage.save("d" * 98 + "/a.png", ContentFile(b"x"), max_length=100)
    again = default_storage.save(long_name, ContentFile(png_bytes(gradient(20, 20))), max_length=100)
    assert again != saved and len(again) <= 100  # the same long name twice: trimmed, then made unique
    post = presigned_post("y" * 150 + ".jpg", "image/jpeg", 1000, upload_to="photos")
    assert len(post["name"]) <= 100 and post["name"].startswith("photos/y")
    second = presigned_post("y" * 150 + ".jpg", "image/jpeg", 1000, upload_to="photos")
    assert second["name"] != post["name"] and len(second["name"]) <= 100
    assert presigned_post("C:\\Users\\me\\cat.jpg", "image/jpeg", 1000)["name"] == "cat.jpg"


def test_ready_when_the_function_announces_it(bucket: str, s3: Any, run_function: Any) -> None:
    """A subscriber that checks `is_ready` on ImageOptimized sees True (the event precedes the delete)."""
    from image_optimizer import handler

    name = default_storage.save("announced.png", ContentFile(png_bytes(gradient(60, 40))))
    seen: list[tuple[str, bool]] = []

    class Subscriber:
        def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
            seen.append((detail_type, default_storage.is_ready(detail["name"])))

    service = handler.get_service()
    with mock.patch.object(service, "publisher", Subscriber()):
        run_function()
    assert seen == [("ImageOptimized", True)]
    assert name == "announced.jpg"


def test_delete_reports_what_s3_could_not_delete(bucket: str, s3: Any) -> None:
    name = default_storage.save("kept.png", ContentFile(png_bytes(gradient(20, 20))))
    refusal = {"Errors": [{"Key": "media/kept.jpg", "Code": "AccessDenied", "Message": "Access Denied"}]}
    client = default_storage.connection.meta.client
    with (
        mock.patch.object(client, "delete_objects", return_value=refusal),
        pytest.raises(OSError, match="AccessDenied"),
    ):
        default_storage.delete(name)


def test_heic_passes_the_forms_image_check(client: Any, bucket: str, s3: Any, run_function: Any) -> None:
    photo = upload(client, "iphone.heic", (SAMPLES_DIR / "iphone8plus.heic").read_bytes(), "image/heic")
    run_function()
    assert photo.image.name == "photos/iphone.jpg" and Photo.objects.get(pk=photo.pk).ready


def test_a_failed_raw_write_releases_its_claim(bucket: str, s3: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("network down")

    with mock.patch.object(IncomingImageStorage, "_write_original", refuse), pytest.raises(ConnectionError):
        default_storage.save("cat.png", ContentFile(png_bytes(gradient(20, 20))))
    assert keys(s3, bucket, "") == []
    assert default_storage.save("cat.png", ContentFile(png_bytes(gradient(20, 20)))) == "cat.jpg"


def test_choosing_a_name_alone_claims_nothing_and_listings_hide_claims(bucket: str, s3: Any) -> None:
    assert default_storage.get_available_name("fish.png") == "fish.png"
    assert keys(s3, bucket, "") == []
    default_storage.save("dir/eel.png", ContentFile(png_bytes(gradient(20, 20))))
    assert keys(s3, bucket, "media/") == ["media/dir/eel.claim"]
    assert default_storage.listdir("dir") == ([], [])


def test_a_direct_upload_the_function_rejects_still_gets_its_row(
    client: Any, bucket: str, s3: Any, run_function: Any
) -> None:
    ticket = client.post(
        "/direct-upload/", {"filename": "scan.ppm", "content_type": "image/x-portable-pixmap"}, "application/json"
    ).json()
    assert post_form(ticket, unsupported_image()) == 204
    run_function()  # quarantined before the browser reports back
    done = client.post("/direct-upload/done/", {"ticket": ticket["ticket"]}, "application/json")
    assert done.status_code == 200
    assert 'class="rejected"' in client.get("/").content.decode()


def test_extra_formats_show_in_picture_and_go_with_the_name(
    client: Any, bucket: str, s3: Any, run_function: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from image_optimizer import handler

    settings.IMAGE_OPTIMIZER_EXTRA_FORMATS = "webp,avif"
    settings.STORAGES = {**settings.STORAGES}  # rebuild the storage with the new settings
    function = handler.settings
    monkeypatch.setattr(
        handler, "settings", replace(function, pipeline=replace(function.pipeline, extra_formats=("webp", "avif")))
    )
    handler.get_service.cache_clear()
    photo = upload(client, "sunset.png", png_bytes(gradient(900, 600)))
    run_function()
    assert default_storage.is_ready(photo.image.name)

    rendered = Template('{% load image_optimizer %}{% picture p.image "small" alt=title loading="lazy" %}')
    markup = rendered.render(Context({"p": photo, "title": "A <sunset>"}))  # escaped like any variable
    sources = re.findall(r'<source type="([^"]+)" srcset="([^"]+)">', markup)
    assert [(kind, key_of(html.unescape(url), bucket)) for kind, url in sources] == [
        ("image/avif", "media/photos/sunset_small.avif"),
        ("image/webp", "media/photos/sunset_small.webp"),
    ]
    [img] = re.findall(r'<img src="([^"]+)" alt="A &lt;sunset&gt;" loading="lazy">', markup)
    assert key_of(html.unescape(img), bucket) == "media/photos/sunset_small.jpg"
    for _, url in sources:
        with Image.open(io.BytesIO(fetch(html.unescape(url)))) as image:
            assert image.size == (320, 213)

    # a missing sibling means not ready: the page must not point at an object that is not there
    s3.delete_object(Bucket=bucket, Key="media/photos/sunset_thumb.webp")
    assert not default_storage.is_ready(photo.image.name)
    photo.image.delete(save=False)
    assert keys(s3, bucket, "") == []


def test_without_extra_formats_picture_is_just_the_jpeg(bucket: str, s3: Any) -> None:
    markup = Template("{% load image_optimizer %}{% picture p.image %}").render(Context({"p": Photo(image="a/b.jpg")}))
    assert "<source" not in markup
    [img] = re.findall(r'<picture><img src="([^"]+)" alt=""></picture>', markup)
    assert key_of(html.unescape(img), bucket) == "media/a/b.jpg"
    with pytest.raises(ValueError, match="format 'webp' is not written"):
        default_storage.rendition_key("a/b.jpg", "main", "webp")
