from dataclasses import replace

from image_optimizer.aws.provenance import Source, Verdict, judge, rendition_fingerprint
from image_optimizer.specs import MAIN, PipelineConfig, parse_thumbnails

JPEGLI = "jpegli 0.3.2"


def config_fingerprint(config: PipelineConfig, renderer: str) -> str:
    """The main JPEG's fingerprint: what shapes every rendition."""
    return rendition_fingerprint(config, MAIN, "jpeg", renderer)


CONFIG = config_fingerprint(PipelineConfig(), JPEGLI)


def source(
    etag: str = "aaa", sequencer: str | None = "0055AED6DCD90281E5", modified: str = "2026-11-25T12:00:00+00:00"
) -> Source:
    return Source("incoming/x.jpg", f'"{etag}"', None, modified, sequencer, CONFIG)


def test_same_upload_and_settings_is_not_written_twice() -> None:
    assert judge(source().metadata(), source()) is Verdict.SAME


def test_same_upload_with_other_settings_is_rewritten() -> None:
    other = Source(
        "incoming/x.jpg",
        '"aaa"',
        None,
        "2026-11-25T12:00:00+00:00",
        None,
        config_fingerprint(PipelineConfig(quality=70), JPEGLI),
    )
    assert judge(other.metadata(), source()) is Verdict.WRITE


def test_the_encoder_that_ran_is_part_of_the_fingerprint() -> None:
    assert config_fingerprint(PipelineConfig(), "pillow 13.0.0") != CONFIG
    assert config_fingerprint(PipelineConfig(), "jpegli 0.3.3") != CONFIG


def test_the_thread_count_is_not_part_of_the_fingerprint() -> None:
    """Threads give the same bytes sooner: a retry after a memory change must not rewrite the renditions."""
    assert config_fingerprint(PipelineConfig(threads=3), JPEGLI) == CONFIG
    fixed = config_fingerprint(PipelineConfig(quality=70), JPEGLI)
    assert config_fingerprint(PipelineConfig(threads=3, quality=70), JPEGLI) == fixed != CONFIG


def test_the_quality_target_counts_only_without_a_fixed_quality() -> None:
    searched, fixed = PipelineConfig(), PipelineConfig(quality=80)
    assert config_fingerprint(replace(searched, quality_target=90), JPEGLI) != CONFIG
    assert config_fingerprint(replace(fixed, quality_target=90), JPEGLI) == config_fingerprint(fixed, JPEGLI)
    assert config_fingerprint(fixed, JPEGLI) != CONFIG


def test_sequencer_orders_uploads_of_one_key() -> None:
    older, newer = source("old", "0055AED6DCD90281E5"), source("new", "0055AED6DCD90281F0")
    assert judge(newer.metadata(), older) is Verdict.NEWER_EXISTS
    assert judge(older.metadata(), newer) is Verdict.WRITE
    # Shorter sequencers are right-padded with zeros before comparing (S3's rule).
    assert judge(source("n", "0055AED6DCD90282").metadata(), source("o", "0055AED6DCD90281FF")) is Verdict.NEWER_EXISTS


def test_without_sequencers_last_modified_decides() -> None:
    older = source("old", None, "2026-11-25T12:00:00+00:00")
    newer = source("new", None, "2026-11-25T12:00:05+00:00")
    assert judge(newer.metadata(), older) is Verdict.NEWER_EXISTS
    assert judge(older.metadata(), newer) is Verdict.WRITE


def test_metadata_is_ascii() -> None:
    metadata = Source("incoming/été 2019.png", '"e"', "v1", "2026", None, CONFIG).metadata()
    assert all(value.isascii() for value in metadata.values())
    assert metadata["source-version-id"] == "v1"


def test_an_upload_no_longer_at_its_key_never_replaces_another_uploads_renditions() -> None:
    # Same second, no sequencers: the clocks cannot tell, but the key already holds something newer.
    newer = source("new", None, "2026-11-25T12:00:00+00:00")
    replaced = Source("incoming/x.jpg", '"old"', None, "2026-11-25T12:00:00+00:00", None, CONFIG, current=False)
    assert judge(newer.metadata(), replaced) is Verdict.NEWER_EXISTS
    # still at its key when it looked: a tie, written only if still there at the write (the service looks again)
    assert judge(newer.metadata(), source("old", None, "2026-11-25T12:00:00+00:00")) is Verdict.TIE


def fingerprints(config: PipelineConfig, renderer: str = JPEGLI) -> dict[tuple[str, str], str]:
    names = ["main", *(spec.name for spec in config.thumbnails)]
    return {(n, f): rendition_fingerprint(config, n, f, renderer) for n in names for f in ("jpeg", "webp")}


def test_adding_a_thumbnail_size_changes_no_other_renditions_fingerprint() -> None:
    before = fingerprints(PipelineConfig())
    after = fingerprints(
        replace(
            PipelineConfig(), thumbnails=parse_thumbnails("thumb:150x150:smart,small:320x320:fit,wide:600x300:crop")
        )
    )
    assert {key: after[key] for key in before} == before
    assert len(set(after.values())) == len(after)  # every rendition and format its own


def test_changing_one_thumbnail_changes_only_its_fingerprint() -> None:
    before = fingerprints(PipelineConfig())
    after = fingerprints(replace(PipelineConfig(), thumbnails=parse_thumbnails("thumb:160x160:crop,small:320x320:fit")))
    assert {key for key in before if before[key] != after[key]} == {("thumb", "jpeg"), ("thumb", "webp")}


def test_what_shapes_every_rendition_changes_every_fingerprint() -> None:
    """The main image's geometry (thumbnails may be resampled from it), the quality settings (thumbnails follow
    the main image's quality), the encoder that ran, the background, the code."""
    before = fingerprints(PipelineConfig())
    for other in (
        fingerprints(PipelineConfig(max_width=1000)),
        fingerprints(PipelineConfig(max_height=600)),
        fingerprints(PipelineConfig(quality_target=80)),
        fingerprints(PipelineConfig(quality=70)),
        fingerprints(PipelineConfig(encoder="pillow")),
        fingerprints(PipelineConfig(background=(0, 0, 0))),
        fingerprints(PipelineConfig(), "jpegli 0.3.3"),
    ):
        assert all(other[key] != before[key] for key in before)


def test_what_shapes_no_rendition_leaves_the_fingerprints_alone() -> None:
    before = fingerprints(PipelineConfig())
    for config in (
        PipelineConfig(threads=3),
        PipelineConfig(max_pixels=1000),
        PipelineConfig(max_full_decode_pixels=1000),
        PipelineConfig(extra_formats=("avif",)),  # adds siblings; the JPEGs are unchanged
        PipelineConfig(extra_formats=("webp", "avif")),  # (WebP's smaller largest side: only mains > 16,383 px)
    ):
        assert fingerprints(config) == before
    fixed = PipelineConfig(quality=70)
    assert fingerprints(replace(fixed, quality_target=90)) == fingerprints(fixed)  # a fixed quality: target moot
