"""The public imports (docs/contributing.md#public-imports) stay where other code finds them: the template's two
handlers, the Django side, the settings, specs and errors, and the command line's entry point."""

from __future__ import annotations

import importlib
import tomllib

import pytest
import yaml

from tests.conftest import ROOT

PUBLIC = {
    "image_optimizer.handler": ["lambda_handler"],
    "image_optimizer.dead_letters": ["lambda_handler"],
    # the names docs/django.md shows; the rest of its __all__ is checked below
    "image_optimizer.contrib.django": [
        "IncomingImageStorage",
        "image_info",
        "presigned_post",
        "rendition_url",
        "thumbnail_url",
        "crop_window",
    ],
    "image_optimizer.settings": ["Settings", "load_settings", "get_settings", "SETTINGS"],
    "image_optimizer.specs": ["PipelineConfig", "ThumbnailSpec", "output_key", "parse_thumbnails"],
    "image_optimizer.errors": ["ImageRejected", "SettingsError"],
    "image_optimizer.__main__": ["main"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_imports(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in [*PUBLIC[module], *getattr(loaded, "__all__", [])] if not hasattr(loaded, name)]
    assert not missing, f"{module} no longer has {missing}"


def test_the_template_and_the_package_name_public_entry_points() -> None:
    """The handlers template.yaml deploys and the console script pyproject installs are among the public names."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    handlers = {
        resource["Properties"]["Handler"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].values()
    named = {f"{module}.{name}" for module, names in PUBLIC.items() for name in names}
    assert handlers == {"image_optimizer.handler.lambda_handler", "image_optimizer.dead_letters.lambda_handler"}
    assert handlers <= named
    assert {script.replace(":", ".") for script in scripts} <= named
