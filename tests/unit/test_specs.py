import pytest

from image_optimizer.specs import ThumbnailSpec, output_key, parse_thumbnails, stem_of

INCOMING, MEDIA = "incoming/", "media/"


@pytest.mark.parametrize(
    ("source", "main", "thumb"),
    [
        ("incoming/cat.png", "media/cat.jpg", "media/cat_thumb.jpg"),
        ("incoming/a/b/c.HEIC", "media/a/b/c.jpg", "media/a/b/c_thumb.jpg"),
        ("incoming/my.photo.v2.jpeg", "media/my.photo.v2.jpg", "media/my.photo.v2_thumb.jpg"),
        (
            "incoming/summer holiday/Ünïcødé + plus.v2.jpg",
            "media/summer holiday/Ünïcødé + plus.v2.jpg",
            "media/summer holiday/Ünïcødé + plus.v2_thumb.jpg",
        ),
        ("incoming/no_extension", "media/no_extension.jpg", "media/no_extension_thumb.jpg"),
        ("incoming/dir.with.dots/file", "media/dir.with.dots/file.jpg", "media/dir.with.dots/file_thumb.jpg"),
    ],
)
def test_naming_rule_keeps_path_and_replaces_only_the_last_suffix(source: str, main: str, thumb: str) -> None:
    assert output_key(source, "main", incoming_prefix=INCOMING, output_prefix=MEDIA) == main
    assert output_key(source, "thumb", incoming_prefix=INCOMING, output_prefix=MEDIA) == thumb


def test_stem_of_keeps_directories() -> None:
    assert stem_of("a/b/x.y.z") == "a/b/x.y"


def test_a_name_without_a_stem_keeps_all_of_it() -> None:
    """`..png` has no stem before its suffix: the function once crashed on it (ValueError), and so did the site."""
    assert stem_of("a/..png") == "a/..png"
    assert (
        output_key("incoming/..png", "main", incoming_prefix="incoming/", output_prefix="media/") == "media/..png.jpg"
    )
    assert stem_of(".hidden") == ".hidden"


def test_thumbnail_specs_parse_in_order() -> None:
    assert parse_thumbnails("thumb:150x150:crop, small:320x240:fit") == (
        ThumbnailSpec("thumb", 150, 150, "crop"),
        ThumbnailSpec("small", 320, 240, "fit"),
    )
    assert parse_thumbnails("") == ()


@pytest.mark.parametrize(
    "bad", ["thumb:150:crop", "thumb:0x10:fit", "thumb:10x10:stretch", "a:1x1:fit,a:2x2:fit", "main:5x5:fit"]
)
def test_bad_thumbnail_specs_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_thumbnails(bad)


def test_a_failed_key_beside_another_keeps_its_suffix_and_fits_s3s_limit() -> None:
    from image_optimizer.specs import S3_MAX_KEY_BYTES, failed_key

    prefixes = {"incoming_prefix": "incoming/", "failed_prefix": "failed/"}
    assert failed_key("incoming/docs/cv.pdf", **prefixes) == "failed/docs/cv.pdf"
    assert failed_key("incoming/docs/cv.pdf", **prefixes, tag="3f2a9c1b0d4e") == "failed/docs/cv.3f2a9c1b0d4e.pdf"
    assert failed_key("incoming/..png", **prefixes, tag="3f2a") == "failed/..png.3f2a"
    long_key = "incoming/a/" + "é" * 503 + ".jpg"  # 1,022 bytes: tagged as it is, 1,033
    tagged = failed_key(long_key, **prefixes, tag="3f2a9c1b0d4e")
    assert len(tagged.encode()) <= S3_MAX_KEY_BYTES
    assert tagged.startswith("failed/a/éé") and tagged.endswith("é.3f2a9c1b0d4e.jpg")
