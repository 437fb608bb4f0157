"""Generates the tables of docs/configuration.md from the code, so the page cannot drift from it.

The function's settings come from their declarations (`image_optimizer.settings.SETTINGS`: name, default, what is
accepted, meaning), each with the template parameter that sets it (`template.yaml`, the function's Environment);
the stack's other parameters come from `template.yaml`'s Parameters (default and Description). Only the text
between the GENERATED markers is written; the prose around it is the page's own.

    .venv/bin/python -m tools.docs_settings           # rewrite docs/configuration.md
    .venv/bin/python -m tools.docs_settings --check   # exit 1 when the committed page differs
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from image_optimizer.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
TEMPLATE = ROOT / "template.yaml"
BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (\w+) .*?-->\n)(.*?)(<!-- END GENERATED: \2 -->)", re.DOTALL)


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (`!Ref X` -> {"Ref": "X"}) instead of refusing them."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)  # type: ignore[arg-type]
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # a SafeLoader subclass


def cell(text: str) -> str:
    """Plain text as one Markdown table cell: no HTML, no column breaks."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def code(value: str) -> str:
    return f"`{value}`" if value else "(unset)"


def environment_parameters(template: dict[str, Any]) -> dict[str, str]:
    """Setting name -> the template parameter the function's environment takes it from."""
    variables = template["Resources"]["ImageOptimizerFunction"]["Properties"]["Environment"]["Variables"]
    return {name: value["Ref"] for name, value in variables.items() if isinstance(value, dict) and "Ref" in value}


def settings_table(template: dict[str, Any]) -> str:
    parameters = environment_parameters(template)
    lines = [
        "| variable | template parameter | default | accepts | meaning |",
        "|---|---|---|---|---|",
    ]
    for setting in SETTINGS:
        parameter = parameters.get(setting.name)
        lines.append(
            f"| `{setting.name}` | {code(parameter or '')} | {code(setting.default)} | {cell(setting.accepted)}"
            f" | {cell(setting.description)} |"
        )
    return "\n".join(lines) + "\n"


def parameters_table(template: dict[str, Any]) -> str:
    """The stack's parameters that are not one of the settings above (memory, trigger, alarms, lifecycle...)."""
    bound = set(environment_parameters(template).values())
    lines = ["| parameter | default | meaning |", "|---|---|---|"]
    for name, spec in template["Parameters"].items():
        if name in bound:
            continue
        default = str(spec.get("Default", ""))
        allowed = spec.get("AllowedValues")
        meaning = spec.get("Description", "")
        if allowed:
            meaning += f" One of: {', '.join(str(value) for value in allowed)}."
        lines.append(f"| `{name}` | {code(default)} | {cell(meaning)} |")
    return "\n".join(lines) + "\n"


def render(page: str, template: dict[str, Any]) -> str:
    tables = {"settings": settings_table(template), "parameters": parameters_table(template)}

    def fill(match: re.Match[str]) -> str:
        return match[1] + tables[match[2]] + match[4]

    rendered, count = BLOCK.subn(fill, page)
    if count != len(tables):
        raise SystemExit(f"{PAGE}: expected {len(tables)} GENERATED blocks, found {count}")
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed page is not the generated one")
    args = parser.parse_args(argv)
    current = PAGE.read_text()
    generated = render(current, load_template())
    if args.check:
        if generated != current:
            print(
                f"{PAGE.relative_to(ROOT)} is out of date: run .venv/bin/python -m tools.docs_settings", file=sys.stderr
            )
            return 1
        return 0
    PAGE.write_text(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
