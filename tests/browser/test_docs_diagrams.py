"""Every Mermaid diagram in the docs renders: `mkdocs build --strict` does not look inside them, so a syntax slip
would only show as an error box on the site. Rendered here by the Mermaid release Material for MkDocs loads
(major 11), in headless Chromium. The package comes from the npm registry once and is kept in .venv."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

MERMAID_VERSION = "11.6.0"  # Material for MkDocs 9.8 loads mermaid@11
MERMAID_JS = ROOT / ".venv" / f"mermaid-{MERMAID_VERSION}" / "mermaid.min.js"


def diagrams() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"^```mermaid\n(.*?)^```", path.read_text(), re.DOTALL | re.MULTILINE):
            found.append((path.name, block))
    return found


@pytest.fixture(scope="session")
def mermaid_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MERMAID_JS.is_file():
        npm = shutil.which("npm")
        if not npm:
            pytest.fail(f"npm is needed once, to fetch mermaid@{MERMAID_VERSION} into {MERMAID_JS.parent}")
        work = tmp_path_factory.mktemp("mermaid")
        packed = subprocess.run(
            [npm, "pack", f"mermaid@{MERMAID_VERSION}", "--pack-destination", str(work)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert packed.returncode == 0, packed.stderr[-2000:]
        with tarfile.open(work / f"mermaid-{MERMAID_VERSION}.tgz") as archive:
            member = archive.extractfile("package/dist/mermaid.min.js")
            assert member is not None
            MERMAID_JS.parent.mkdir(parents=True, exist_ok=True)
            MERMAID_JS.write_bytes(member.read())
    return MERMAID_JS


def test_there_are_diagrams_to_check() -> None:
    pages = {page for page, _ in diagrams()}
    assert "how-it-works.md" in pages
    assert len(diagrams()) >= 6  # the architecture, the pipeline and four sequences


def test_every_mermaid_diagram_renders(browser: Any, mermaid_js: Path, tmp_path: Path) -> None:
    page = tmp_path / "diagrams.html"
    shutil.copy(mermaid_js, tmp_path / "mermaid.min.js")
    page.write_text('<!doctype html><html><body><script src="mermaid.min.js"></script></body></html>')
    browser.get(page.as_uri())
    assert browser.execute_script("return typeof mermaid") == "object"
    failures = []
    for index, (name, text) in enumerate(diagrams()):
        result = browser.execute_async_script(
            """
            const [id, text, done] = arguments;
            mermaid.initialize({startOnLoad: false});
            mermaid.render(id, text)
              .then(out => done({ok: out.svg.includes('<svg') && !out.svg.includes('Syntax error')}))
              .catch(error => done({ok: false, error: String(error && error.message || error)}));
            """,
            f"diagram{index}",
            text,
        )
        if not result["ok"]:
            failures.append(f"{name}, diagram {index}: {json.dumps(result.get('error', 'no svg'))}\n{text}")
    assert not failures, "\n\n".join(failures)


def test_a_broken_diagram_is_caught(browser: Any, mermaid_js: Path, tmp_path: Path) -> None:
    shutil.copy(mermaid_js, tmp_path / "mermaid.min.js")
    (tmp_path / "broken.html").write_text(
        '<!doctype html><html><body><script src="mermaid.min.js"></script></body></html>'
    )
    browser.get((tmp_path / "broken.html").as_uri())
    result = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        mermaid.initialize({startOnLoad: false});
        mermaid.render('broken', 'sequenceDiagram\\n  A->>B: fails; the rest\\n  B-->>: nothing')
          .then(out => done({ok: !out.svg.includes('Syntax error')}))
          .catch(error => done({ok: false}));
        """
    )
    assert result == {"ok": False}
