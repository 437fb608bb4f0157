"""The example site (examples/django_site) in headless Chromium: a user picks a photo, the browser uploads it straight
to S3 (presigned POST), the function processes it, and the page paints the placeholder at the image's aspect ratio
at once, then the image srcset chose, without moving anything; a text file named .jpg shows its rejection.
A screenshot of each state goes to artifacts/browser/."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from image_optimizer import handler
from image_optimizer.imaging import thumbhash
from image_optimizer.specs import parse_thumbnails
from tests.conftest import SAMPLES_DIR

# Its own xdist group: it runs beside the rest of the suite (free ports only, nothing shared).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]

# A 2x main beside the default thumbnails (the README's recipe), on the function and on the site.
THUMBNAILS = "thumb:150x150:crop,small:320x320:fit,large:1500x1500:fit"
WAIT = 60.0
LAYOUT_SHIFTS = """
window.__cls = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__cls += entry.value;
}).observe({type: "layout-shift", buffered: true});
"""
MAIN_IMG = "img.main"


def wait_for(driver: Any, script: str, what: str, timeout: float = WAIT) -> Any:
    """Poll a JavaScript expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def settle(driver: Any) -> None:
    """Two animation frames: whatever was laid out has been painted, and layout shifts reported."""
    driver.execute_async_script(
        "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));"
    )


def box(driver: Any, selector: str) -> dict[str, float]:
    rect: dict[str, float] = driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {x: r.left, y: r.top, width: r.width, height: r.height};",
        selector,
    )
    return rect


def painted(driver: Any, rect: dict[str, float]) -> Image.Image:
    """What the screen shows inside `rect` (CSS pixels; device pixels at the default scale factor 1)."""
    shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    left, top = round(rect["x"]), round(rect["y"])
    return shot.crop((left, top, left + round(rect["width"]), top + round(rect["height"])))


def difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b.resize(a.size, Image.Resampling.BILINEAR), float)).mean())


def chosen(driver: Any) -> dict[str, Any]:
    """The main image as loaded: the srcset candidate the browser chose (its URL and declared width), its
    naturalWidth (in CSS pixels: the file's width over the candidate's density) and the file's own width."""
    found: dict[str, Any] = driver.execute_async_script(
        """const [selector, done] = arguments;
        const img = document.querySelector(selector);
        const candidates = img.srcset.split(", ").map((item) => item.trim().split(" "));
        const [url, declared] = candidates.find(([url]) => url === img.currentSrc);
        const file = new Image();
        file.src = img.currentSrc;  // the same URL: from the cache
        file.decode().then(() => done({url, declared: parseInt(declared), natural: img.naturalWidth,
                                        file: file.naturalWidth}));""",
        MAIN_IMG,
    )
    return found


def side_by_side(before: Image.Image, after: Image.Image) -> Image.Image:
    """The same box before and after its image arrived (the README's picture)."""
    pair = Image.new("RGB", (before.width + after.width + 20, before.height), "white")
    pair.paste(before, (0, 0))
    pair.paste(after, (before.width + 20, 0))
    return pair


def pick(driver: Any, path: Path) -> None:
    """The user chooses a file in the page's direct-upload picker; the page's script does the rest."""
    driver.find_element("css selector", "#direct").send_keys(str(path))


def shoot(driver: Any, artifacts: Path, name: str) -> None:
    driver.save_screenshot(str(artifacts / f"{name}.png"))


def test_upload_placeholder_image_and_rejection_in_a_real_browser(
    browser: Any,
    live_server: Any,
    gated_s3: Any,
    site_bucket: Any,
    process_uploads: Callable[[], list[str]],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    s3, bucket = site_bucket
    settings.IMAGE_OPTIMIZER_THUMBNAILS = THUMBNAILS
    settings.STORAGES = {**settings.STORAGES}  # rebuild the storage with the new setting
    function = handler.settings
    monkeypatch.setattr(
        handler,
        "settings",
        replace(function, pipeline=replace(function.pipeline, thumbnails=parse_thumbnails(THUMBNAILS))),
    )
    handler.get_service.cache_clear()
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LAYOUT_SHIFTS})
    site = live_server.url + "/"

    # 1. The page, empty; the user picks a photo: the browser posts it to S3 itself and the page shows it pending.
    browser.get(site)
    wait_for(browser, "document.body.innerText.includes('No photos yet')", "the empty gallery")
    shoot(browser, artifacts, "1-empty")
    pick(browser, SAMPLES_DIR / "landscape_exif6.jpg")  # 1200x1800 stored, EXIF 6: 1800x1200 upright
    wait_for(browser, "document.querySelector('[data-state=pending]')", "the pending box")
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="incoming/")["Contents"]] == [
        "incoming/photos/landscape_exif6.jpg"
    ]
    pending = box(browser, "[data-state=pending]")
    assert pending["width"] / pending["height"] == pytest.approx(3 / 2, abs=0.01)  # nothing known: a neutral box
    shoot(browser, artifacts, "2-pending")

    # 2. The function processes it; the renditions are held back at S3, so the page shows only its placeholder.
    gated_s3.open.clear()
    assert process_uploads() == ["processed"]
    browser.get(site)
    wait_for(browser, f"document.querySelector('{MAIN_IMG}')", "the image element")
    deadline = time.monotonic() + WAIT
    while gated_s3.held == 0:  # the browser asked for the image and is waiting for it
        assert time.monotonic() < deadline, "the browser never asked for the image"
        time.sleep(0.05)
    settle(browser)
    assert browser.execute_script(f"return document.querySelector('{MAIN_IMG}').naturalWidth") == 0  # not loaded
    placeholder_box = box(browser, MAIN_IMG)
    assert (placeholder_box["width"], placeholder_box["height"]) == (750, 500)  # the main's size, reserved at once
    stored = s3.head_object(Bucket=bucket, Key="media/photos/landscape_exif6.jpg")["Metadata"]
    w, h, rgba = thumbhash.thumbhash_to_rgba(base64.b64decode(stored["thumbhash"]))
    placeholder = Image.frombytes("RGBA", (w, h), rgba).convert("RGB")
    deadline = time.monotonic() + WAIT
    while difference(shown := painted(browser, placeholder_box), placeholder) >= 12:  # painted: within a frame or two
        assert time.monotonic() < deadline, f"the placeholder was not painted ({difference(shown, placeholder):.1f})"
        time.sleep(0.1)
    assert difference(shown, Image.new("RGB", shown.size, "white")) > 12  # (the test can tell)
    shoot(browser, artifacts, "3-placeholder")

    # 3. The images arrive: the one srcset chose, in the box the placeholder held, and nothing moved.
    gated_s3.open.set()
    wait_for(browser, f"document.querySelector('{MAIN_IMG}').naturalWidth > 0", "the image")
    settle(browser)
    loaded = chosen(browser)
    assert loaded["natural"] == loaded["declared"] == loaded["file"] == 750  # 750 CSS px at scale factor 1: the main
    assert "/media/photos/landscape_exif6.jpg?" in loaded["url"]
    assert box(browser, MAIN_IMG) == placeholder_box
    with Image.open(
        io.BytesIO(s3.get_object(Bucket=bucket, Key="media/photos/landscape_exif6.jpg")["Body"].read())
    ) as main:
        assert difference(painted(browser, placeholder_box), main.convert("RGB")) < 6  # the photo, not the placeholder
    assert browser.execute_script("return window.__cls") == 0  # cumulative layout shift
    shoot(browser, artifacts, "4-loaded")
    side_by_side(shown, painted(browser, placeholder_box)).save(artifacts / "placeholder-then-image.png")

    # 4. Other screens: srcset's choice is what the browser loads (2x desktop: the 1500 px rendition; a narrow phone:
    # the 320 px one), and still without layout shift. Without a cache: a browser may take a finer file it already
    # holds (the URLs repeat within a second, their signatures too).
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    for width, scale, expected, key in (
        (1000, 2, 1500, "landscape_exif6_large.jpg"),
        (300, 1, 320, "landscape_exif6_small.jpg"),
    ):
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 1100, "deviceScaleFactor": scale, "mobile": False},
        )
        browser.get(site)
        wait_for(browser, f"document.querySelector('{MAIN_IMG}')?.naturalWidth > 0", f"the image at {width}px x{scale}")
        settle(browser)
        loaded = chosen(browser)
        assert loaded["file"] == loaded["declared"] == expected and f"/media/photos/{key}?" in loaded["url"]
        assert browser.execute_script("return window.__cls") == 0
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    # 5. A text file named .jpg: S3 takes it (the browser calls it image/jpeg), the function rejects it, the page
    # says why (to the site's own staff: here DEBUG, the example has no login).
    settings.DEBUG = True
    text = tmp_path / "notes.jpg"
    text.write_text("shopping list: milk, eggs\n")
    browser.get(site)
    wait_for(browser, f"document.querySelector('{MAIN_IMG}')", "the gallery")
    pick(browser, text)
    wait_for(browser, "document.querySelector('[data-state=pending]')", "the second upload pending")
    assert process_uploads() == ["rejected"]
    browser.get(site)
    rejected = wait_for(browser, "document.querySelector('[data-state=rejected]')?.innerText", "the rejection")
    assert rejected == "Rejected: not an image: the content is text"
    shoot(browser, artifacts, "5-rejected")
