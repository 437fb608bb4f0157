"""Fixtures for tests/infrastructure (helpers live in infra_helpers.py).

The helper module is imported through an explicit sys.path entry so that these tests work with
any pytest import mode and do not collide with other conftest.py files of the project.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from infra_helpers import Rendered, load_template, sam_transform


@pytest.fixture(scope="session")
def template():
    return load_template()


@pytest.fixture(scope="session")
def render(template):
    cache: dict[tuple, Rendered] = {}

    def _render(**parameters: str) -> Rendered:
        key = tuple(sorted(parameters.items()))
        if key not in cache:
            cache[key] = Rendered(sam_transform(template, parameters), parameters)
        return cache[key]

    return _render
