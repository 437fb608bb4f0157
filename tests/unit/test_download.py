"""Download: a GET's body as a seekable file that fills as it is read (no S3 needed: any body will do)."""

from __future__ import annotations

import pytest

from image_optimizer.aws.download import Download, ReadFailed
from image_optimizer.aws.storage import BODY_READ_ERRORS
from tests.bodies import Body, download_of

DATA = bytes(range(256)) * 2000  # 512000 bytes


def test_a_download_reads_and_seeks_like_the_bytes_it_receives() -> None:
    import io
    import random

    download, reference = download_of(DATA, chunk=7000), io.BytesIO(DATA)
    rng = random.Random(4)
    for _ in range(300):
        operation = rng.choice(["read", "seek", "seek_cur", "seek_end", "readinto"])
        if operation == "read":
            amount = rng.choice([-1, 0, 1, 100, 65536, 200_000])
            assert download.read(amount) == reference.read(amount)
        elif operation == "readinto":
            left = bytearray(rng.randint(0, 5000))
            right = bytearray(len(left))
            assert download.readinto(left) == reference.readinto(right)
            assert left == right
        elif operation == "seek":
            where = rng.randint(0, len(DATA) + 10)
            assert download.seek(where) == reference.seek(where)
        elif operation == "seek_cur":
            offset = rng.randint(-min(download.tell(), 3000), 3000)
            assert download.seek(offset, 1) == reference.seek(offset, 1)
        else:
            offset = -rng.randint(0, 3000)
            assert download.seek(offset, 2) == reference.seek(offset, 2)
        assert download.tell() == reference.tell()


def test_a_download_receives_only_what_has_been_read_so_far() -> None:
    body = Body(DATA)
    download = Download(body, len(DATA), BODY_READ_ERRORS)
    assert download.read(1024) == DATA[:1024]
    assert body.given == Download.CHUNK  # one chunk received, the rest still on its way
    assert download.received == Download.CHUNK
    download.seek(0)
    assert download.read(10) == DATA[:10] and body.given == Download.CHUNK  # seeking back costs no transfer
    assert download.finish() == len(DATA) and body.given == len(DATA)
    download.close()
    assert body.closed


def test_a_download_that_breaks_off_is_read_failed_not_an_os_error() -> None:
    download = download_of(DATA, fail_after=100_000)
    assert download.read(50_000) == DATA[:50_000]
    with pytest.raises(ReadFailed, match=r"broke off after \d+ bytes") as caught:
        download.read()
    # Pillow and the decode step treat OSError/ValueError as a bad image: a broken transfer must be neither.
    assert not isinstance(caught.value, (OSError, ValueError, EOFError))
    with pytest.raises(ReadFailed):
        download.finish()


def test_reading_the_whole_file_returns_what_was_received_without_a_copy() -> None:
    """The WebP, HEIF and AVIF openers read the whole file: one buffer in memory, not two."""
    download = download_of(DATA, chunk=7000)
    assert download.read(10) == DATA[:10]
    download.seek(0)
    whole = download.read()
    download.seek(0)
    assert whole == DATA and download.read() is whole


def test_a_body_that_ends_short_of_its_announced_size_is_read_failed_every_time() -> None:
    body = Body(DATA)
    download = Download(body, len(DATA) + 100, BODY_READ_ERRORS)
    with pytest.raises(ReadFailed, match=f"ended after {len(DATA)} of {len(DATA) + 100} bytes"):
        download.finish()
    reads = body.reads
    with pytest.raises(ReadFailed):
        download.read(10)
    assert body.reads == reads  # the broken transfer is not read again


def test_an_error_that_is_not_a_broken_transfer_is_not_disguised_as_one() -> None:
    class Broken(Body):
        def read(self, amount: int = -1) -> bytes:
            raise TypeError("a bug, not the network")

    with pytest.raises(TypeError, match="a bug"):
        Download(Broken(DATA), len(DATA), BODY_READ_ERRORS).read(10)
