"""The pure parts of archiving and re-rendering: where copies go, what --from-main may derive, the progress."""

from __future__ import annotations

import io

import pytest

from image_optimizer.aws.keys import archive_key, uploaded_key
from image_optimizer.aws.rerender import Result, no_larger
from image_optimizer.local.rerender import Progress
from image_optimizer.settings import load_settings
from image_optimizer.specs import ThumbnailSpec

SETTINGS = load_settings({"INCOMING_PREFIX": "incoming/", "ARCHIVE_PREFIX": "originals/"})


@pytest.mark.parametrize(
    "key,archived",
    [
        ("incoming/a.png", "originals/a.png"),
        ("incoming/trips/Beach Day.JPG", "originals/trips/Beach Day.JPG"),  # the name as uploaded, case and all
        ("incoming/été/x+y.heic", "originals/été/x+y.heic"),
    ],
)
def test_the_archive_key_keeps_the_path_and_file_name(key: str, archived: str) -> None:
    assert archive_key(SETTINGS, key) == archived
    assert uploaded_key(SETTINGS, archived) == key


@pytest.mark.parametrize(
    "spec,main,derivable",
    [
        (ThumbnailSpec("t", 150, 150, "crop"), (750, 500), True),
        (ThumbnailSpec("w", 600, 300, "crop"), (750, 500), True),
        (ThumbnailSpec("w", 600, 300, "crop"), (512, 768), False),  # wider than the main: would be upscaled
        (ThumbnailSpec("t", 150, 150, "smart"), (750, 500), True),  # a smart crop is a crop
        (ThumbnailSpec("t", 150, 150, "smart"), (750, 100), False),  # taller than the main: would come out 100x100
        (ThumbnailSpec("s", 320, 320, "fit"), (750, 500), True),
        (ThumbnailSpec("h", 2000, 2000, "fit"), (750, 500), False),  # from the original it could be larger
        (ThumbnailSpec("b", 2000, 400, "fit"), (750, 500), True),  # bounded by its height: 600x400 either way
        (ThumbnailSpec("e", 750, 2000, "fit"), (750, 500), True),  # exactly the main's width
    ],
)
def test_from_main_derives_only_what_the_main_image_holds(
    spec: ThumbnailSpec, main: tuple[int, int], derivable: bool
) -> None:
    assert no_larger(spec, main) is derivable


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    terminal = Terminal()
    progress = Progress(4, terminal, as_json=False)
    progress.update(1, Result("incoming/a.png", "originals/a.png", "re-rendered"))
    progress.close()
    assert terminal.getvalue().startswith("\r[#######" + "." * 23 + "] 1/4 incoming/a.png")
    assert terminal.getvalue().endswith("\n")

    log = io.StringIO()
    Progress(4, log, as_json=False).update(2, Result("incoming/b.png", "originals/b.png", "failed", reason="boom"))
    assert log.getvalue() == "2/4 failed: incoming/b.png (boom)\n"
