"""`python -m image_optimizer optimize`: files, JSON report, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from image_optimizer.imaging.pipeline import optimize
from tests.conftest import gradient, jpeg_bytes, png_bytes, run_module

cli = run_module


def test_json_report_files_and_exit_status_1_when_one_input_is_rejected(tmp_path: Path) -> None:
    good = tmp_path / "my.photo.png"
    good.write_bytes(png_bytes(gradient(1000, 500)))
    bad = tmp_path / "notes.jpg"
    bad.write_text("just text\n")
    result = cli("optimize", str(good), str(bad), "--out", str(tmp_path / "out"), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [entry["ok"] for entry in report] == [True, False]
    assert report[1]["error"] == {"kind": "unsupported_format", "message": "not an image: the content is text"}
    assert report[1]["renditions"] == []
    assert [r["name"] for r in report[0]["renditions"]] == ["main", "thumb", "small"]
    main = report[0]["renditions"][0]
    assert Path(main["path"]) == tmp_path / "out" / "my.photo.jpg"
    assert (main["width"], main["height"], main["bytes"]) == (750, 375, Path(main["path"]).stat().st_size)
    assert Image.open(tmp_path / "out" / "my.photo_thumb.jpg").size == (150, 150)
    # One clear line on stderr for the rejected file, no traceback.
    assert result.stderr.strip().splitlines() == [
        f"{bad}: rejected (unsupported_format): not an image: the content is text"
    ]


def test_exit_0_and_bytes_identical_to_the_pipeline(tmp_path: Path) -> None:
    source = tmp_path / "a.jpg"
    source.write_bytes(jpeg_bytes(gradient(1600, 1200)))
    result = cli("optimize", str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    expected = optimize(source.read_bytes())
    for rendition in expected.renditions:
        name = "a.jpg" if rendition.name == "main" else f"a_{rendition.name}.jpg"
        assert (tmp_path / "out" / name).read_bytes() == rendition.data


def test_refuses_to_overwrite_an_input(tmp_path: Path) -> None:
    source = tmp_path / "a.jpg"
    original = jpeg_bytes(gradient(1600, 1200))
    source.write_bytes(original)
    result = cli("optimize", str(source), "--out", str(tmp_path))
    assert result.returncode == 2 and "overwrite" in result.stderr
    assert source.read_bytes() == original


def test_settings_from_the_environment_apply(tmp_path: Path) -> None:
    source = tmp_path / "b.png"
    source.write_bytes(png_bytes(gradient(1000, 1000)))
    env = {"PATH": "/usr/bin:/bin", "MAX_WIDTH": "300", "THUMBNAILS": ""}
    result = cli("optimize", str(source), "--out", str(tmp_path / "o"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)
    assert [(r["name"], r["width"]) for r in entry["renditions"]] == [("main", 300)]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert cli("optimize", "x.jpg").returncode == 2  # --out missing
    missing = cli("optimize", str(tmp_path / "nope.jpg"), "--out", str(tmp_path))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    (tmp_path / "p.png").write_bytes(png_bytes(gradient(10, 10)))
    (tmp_path / "p.jpg").write_bytes(jpeg_bytes(gradient(10, 10)))
    clash = cli("optimize", str(tmp_path / "p.png"), str(tmp_path / "p.jpg"), "--out", str(tmp_path / "o"))
    assert clash.returncode == 2 and "stem" in clash.stderr
    bad_setting = cli(
        "optimize", str(tmp_path / "p.png"), "--out", str(tmp_path), env={"PATH": "/usr/bin", "JPEG_QUALITY": "100"}
    )
    assert bad_setting.returncode == 2 and "JPEG_QUALITY" in bad_setting.stderr
