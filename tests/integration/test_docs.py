"""The documentation stays buildable and true: `mkdocs build --strict` passes (so a broken link, anchor or page fails
the suite), the configuration page is the one generated from the code, and the README stays a ten-minute read."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import requests
import yaml

from image_optimizer.settings import SETTINGS
from tests.conftest import ROOT
from tools import docs_settings

README_MAX_LINES = 200


def mkdocs_build(config_dir: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=config_dir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def nav_pages(nav: list[object]) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(nav_pages(value) if isinstance(value, list) else [str(value)])
    return pages


def test_site_builds_strict_with_every_page(tmp_path: Path) -> None:
    result = mkdocs_build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.Loader)  # !!python/name tags in it
    pages = nav_pages(config["nav"])
    for page in pages:
        built = tmp_path / "site" / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        assert built.is_file(), page
    # every Markdown page in docs/ is in the navigation (none only reachable by luck)
    assert {path.relative_to(ROOT / "docs").as_posix() for path in (ROOT / "docs").glob("*.md")} <= set(pages)
    # the benchmark notes are served from the repository's own file (tools/mkdocs_hooks.py)
    notes = (tmp_path / "site" / "benchmarks" / "NOTES" / "index.html").read_text()
    assert "Benchmark notes" in notes


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    """The guarantee above is mkdocs' own validation: shown here on a copy with one dead link and one dead anchor."""
    for name in ("docs", "tools"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "NOTES.md", tmp_path / "benchmarks" / "NOTES.md")
    assert mkdocs_build(tmp_path, tmp_path / "site").returncode == 0
    limits = tmp_path / "docs" / "limits.md"
    original = limits.read_text()
    for broken in ("[gone](no-such-page.md)", "[gone](how-it-works.md#no-such-heading)"):
        limits.write_text(original + f"\n{broken}\n")
        result = mkdocs_build(tmp_path, tmp_path / "site")
        assert result.returncode != 0, broken
        assert "Aborted" in result.stdout + result.stderr, broken


def test_configuration_page_is_the_generated_one() -> None:
    page = docs_settings.PAGE.read_text()
    assert docs_settings.render(page, docs_settings.load_template()) == page, (
        "docs/configuration.md is out of date: run .venv/bin/python -m tools.docs_settings"
    )
    assert docs_settings.main(["--check"]) == 0


def test_configuration_page_lists_every_setting_with_its_default_and_parameter() -> None:
    page = docs_settings.PAGE.read_text()
    rows = {row[0]: row[1:] for row in re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \| ([^|]*) \|", page, re.MULTILINE)}
    assert set(rows) == {setting.name for setting in SETTINGS}
    parameters = docs_settings.environment_parameters(docs_settings.load_template())
    for setting in SETTINGS:
        parameter, default = (cell.strip() for cell in rows[setting.name])
        assert default == (f"`{setting.default}`" if setting.default else "(unset)"), setting.name
        assert parameter == f"`{parameters[setting.name]}`", setting.name
    # every stack parameter is on the page: as a setting's parameter or in the stack table
    template_parameters = set(docs_settings.load_template()["Parameters"])
    shown = set(re.findall(r"^\| `([A-Za-z]+)` \|", page, re.MULTILINE)) | set(parameters.values())
    assert template_parameters <= shown


def test_generator_rewrites_a_stale_table() -> None:
    page = docs_settings.PAGE.read_text()
    stale = page.replace("| `MAX_WIDTH` | `MaxWidth` | `750` |", "| `MAX_WIDTH` | `MaxWidth` | `640` |")
    assert stale != page
    assert docs_settings.render(stale, docs_settings.load_template()) == page


def test_readme_is_a_ten_minute_read() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_settings_are_the_codes() -> None:
    """The README's five settings show the defaults the code declares."""
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \|", readme, re.MULTILINE))
    assert len(rows) == 5
    declared = {setting.name: setting.default for setting in SETTINGS}
    for name, shown in rows.items():
        assert shown.strip() == (f"`{declared[name]}`" if declared[name] else "(unset)"), name


def test_readme_links_resolve() -> None:
    """The README is read on its own (GitHub, PyPI): its relative links point at files that exist, and the anchors
    at headings of those pages."""
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+\.md)(#[^)]+)?\)", readme)
    assert links
    for target, anchor in links:
        path = ROOT / target
        assert path.is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
            slugs = {re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower()) for heading in headings}
            assert anchor[1:] in slugs, target + anchor


def test_make_docs_serves_the_site_on_localhost() -> None:
    """`make docs` as written: the configuration tables regenerated (unchanged here), the site on 127.0.0.1:8001."""
    from tests.integration.test_readme import poll, start_group, stop_group

    before = docs_settings.PAGE.read_text()
    server = start_group("make docs", stdout=subprocess.DEVNULL, env={"NO_MKDOCS_2_WARNING": "1"})
    try:
        page = poll(
            lambda: requests.get("http://127.0.0.1:8001/configuration/", timeout=5),
            lambda response: response.status_code == 200,
        )
        assert "MAX_FULL_DECODE_PIXELS" in page.text
        assert "Stack parameters" in page.text
    finally:
        stop_group(server)
    assert docs_settings.PAGE.read_text() == before
